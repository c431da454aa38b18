#include "common/bytes.h"
#include "server/replica.h"

namespace conclave::server {

std::string encode_membership_request(const MembershipRequest& r) {
  std::string out;
  Writer w(out);
  w.i64(r.from_version);
  w.boolean(r.authorized);
  w.u32(static_cast<uint32_t>(r.changes.size()));
  for (const auto& c : r.changes) {
    w.u8(static_cast<uint8_t>(c.kind));
    w.u64(c.id);
    w.blob(c.address);
    w.blob(c.spec);
  }
  return out;
}

bool decode_membership_request(std::string_view body, MembershipRequest* r) {
  Reader rd(body);
  r->from_version = rd.i64();
  r->authorized = rd.boolean();
  uint32_t n = rd.u32();
  if (!rd.ok() || n > rd.remaining() / 9) return false;
  r->changes.resize(n);
  for (auto& c : r->changes) {
    uint8_t k = rd.u8();
    if (k < 1 || k > 3) return false;
    c.kind = static_cast<MemberChangeSpec::Kind>(k);
    c.id = rd.u64();
    c.address = std::string(rd.blob());
    c.spec = std::string(rd.blob());
  }
  return rd.ok() && rd.at_end();
}

}  // namespace conclave::server
