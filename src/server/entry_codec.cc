#include "server/entry_codec.h"

#include "common/bytes.h"

namespace conclave::server {

void encode_traced_entry(const trace::Parent& parent, std::string_view command, std::string& out) {
  out.reserve(out.size() + 26 + command.size());  // one allocation, not a chain of doublings
  Writer w(out);
  w.u8(kTracedEntry);
  w.u64(parent.trace_id.high);
  w.u64(parent.trace_id.low);
  w.u64(parent.span_id);
  w.u8(parent.debug ? 1 : 0);
  w.raw(command);
}

bool decode_entry(std::string_view data, EntryPayload* out) {
  out->parent.reset();
  if (!is_traced_entry(data)) {
    out->command = data;
    return true;
  }
  Reader r(data.substr(1));
  trace::Parent p;
  p.trace_id.high = r.u64();
  p.trace_id.low = r.u64();
  p.span_id = r.u64();
  p.debug = (r.u8() & 1) != 0;
  out->command = r.rest();
  if (!r.ok()) return false;
  out->parent = p;
  return true;
}

}  // namespace conclave::server
