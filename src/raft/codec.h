// Wire encoding of Raft messages between peers. Decoding never trusts its input: a malformed
// message is refused (and the transport drops the connection that sent it).
#pragma once

#include "common/bytes.h"
#include "raft/types.h"

namespace conclave::raft {

void encode_message(const Message& m, Bytes& out);
bool decode_message(std::string_view bytes, Message* out);
void encode_conf_state(const ConfState& c, Writer& w);
bool decode_conf_state(Reader& r, ConfState* c);

}  // namespace conclave::raft
