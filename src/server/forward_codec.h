// The body of a forwarded write (peer payload kinds 2 and 9, server/proposals.h): what a follower
// sends the leader for a write it cannot append itself. No sockets; the fuzzer decodes it directly.
//
//   kind 2 (untraced): u64 origin, the command's encoding (state/command.h)
//   kind 9 (traced):   u64 trace id high, u64 trace id low, u64 span id, u8 flags (bit 0: debug),
//                      then as kind 2
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "trace/tracer.h"

namespace conclave::server {

struct ForwardBody {
  std::optional<trace::Parent> parent;  // set for kind 9: the follower's forward span
  uint8_t flags = 0;                    // kind 9's flags byte as sent; bit 0 is parent->debug, the others unused
  uint64_t origin = 0;                  // the follower's proposal id, echoed in the ack
  std::string_view command;             // points into the decoded body
};

/// Appends the body (after the kind byte) to `out`.
void encode_forward(const ForwardBody& f, std::string& out);
/// False when `body` is too short for its kind; the command bytes are not decoded here.
bool decode_forward(bool traced, std::string_view body, ForwardBody* out);

}  // namespace conclave::server
