#include "server/forward_codec.h"

#include "common/bytes.h"

namespace conclave::server {

void encode_forward(const ForwardBody& f, std::string& out) {
  Writer w(out);
  if (f.parent) {
    w.u64(f.parent->trace_id.high);
    w.u64(f.parent->trace_id.low);
    w.u64(f.parent->span_id);
    w.u8(static_cast<uint8_t>((f.flags & ~1u) | (f.parent->debug ? 1u : 0u)));
  }
  w.u64(f.origin);
  w.raw(f.command);
}

bool decode_forward(bool traced, std::string_view body, ForwardBody* out) {
  Reader r(body);
  out->parent.reset();
  if (traced) {
    trace::Parent p;
    p.trace_id.high = r.u64();
    p.trace_id.low = r.u64();
    p.span_id = r.u64();
    out->flags = r.u8();
    p.debug = (out->flags & 1) != 0;
    out->parent = p;
  }
  out->origin = r.u64();
  out->command = r.rest();
  return r.ok();
}

}  // namespace conclave::server
