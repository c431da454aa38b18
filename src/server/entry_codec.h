// The payload of a command entry in the Raft log (raft::EntryType::kCommand): a command's
// encoding (state/command.h; its first byte is the command format, 1..127), or, for a proposal a
// traced request made, that encoding behind the trace context of the leader's "raft propose"
// span, so that every node that stores or applies the entry can make its own spans in that trace:
//
//   untraced:  the command's encoding
//   traced:    u8 kTracedEntry, u64 trace id high, u64 trace id low, u64 span id,
//              u8 flags (bit 0: debug), then the command's encoding
//
// The context is data in the entry like any other, so `raft/` and `state/` stay deterministic:
// the state machine is given the command bytes only. No sockets; the fuzzer decodes it directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "trace/tracer.h"

namespace conclave::server {

inline constexpr uint8_t kTracedEntry = 0xE7;  // above every command format

struct EntryPayload {
  std::optional<trace::Parent> parent;  // set for a traced entry: the leader's "raft propose" span
  std::string_view command;             // points into the decoded payload
};

/// Appends the traced form to `out`.
void encode_traced_entry(const trace::Parent& parent, std::string_view command, std::string& out);
/// True when `data` is in the traced form (a one-byte check; the hot path asks this of every entry).
inline bool is_traced_entry(std::string_view data) {
  return !data.empty() && static_cast<uint8_t>(data[0]) == kTracedEntry;
}
/// Splits a payload; false when a traced one is too short for its header.
bool decode_entry(std::string_view data, EntryPayload* out);

}  // namespace conclave::server
