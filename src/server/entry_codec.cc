#include "server/entry_codec.h"

#include <bit>
#include <cstring>

#include "common/bytes.h"

namespace conclave::server {

void encode_traced_entry(const trace::Parent& parent, std::string_view command, std::string& out) {
  // The 26-byte head built on the stack, then one allocation for head and command.
  char head[26];
  head[0] = static_cast<char>(kTracedEntry);
  auto big_endian = [](uint64_t v, char* at) {
    if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
    std::memcpy(at, &v, 8);
  };
  big_endian(parent.trace_id.high, head + 1);
  big_endian(parent.trace_id.low, head + 9);
  big_endian(parent.span_id, head + 17);
  head[25] = parent.debug ? 1 : 0;
  out.reserve(out.size() + sizeof head + command.size());
  out.append(head, sizeof head).append(command);
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
