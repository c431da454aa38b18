// The replicated formats: log commands, Raft peer messages and tree snapshots. Decoding any bytes
// either fails or yields a value whose encoding decodes to the same value again.
#include <cstdint>
#include <string>

#include "common/assert.h"
#include "raft/codec.h"
#include "state/command.h"
#include "state/tree.h"

using namespace conclave;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: {
      state::Command c;
      if (!state::decode_command(in, &c)) break;
      Bytes once, twice;
      state::encode_command(c, once);
      state::Command d;
      CONCLAVE_ASSERT(state::decode_command(once, &d), "an encoded command decodes");
      state::encode_command(d, twice);
      CONCLAVE_ASSERT(once == twice, "command encoding is stable");
      // Applying any decodable command to a fresh tree must not crash or break its invariants.
      state::DataTree tree;
      tree.apply(1, c);
      Bytes snap;
      tree.encode_snapshot(snap);
      state::DataTree copy;
      CONCLAVE_ASSERT(copy.decode_snapshot(snap) && copy.digest() == tree.digest(), "snapshot round trip");
      break;
    }
    case 1: {
      raft::Message m;
      if (!raft::decode_message(in, &m)) break;
      std::string once;
      raft::encode_message(m, once);
      raft::Message again;
      CONCLAVE_ASSERT(raft::decode_message(once, &again), "an encoded message decodes");
      break;
    }
    case 2: {
      state::DataTree tree;
      if (!tree.decode_snapshot(in)) break;
      Bytes snap;
      tree.encode_snapshot(snap);
      state::DataTree copy;
      CONCLAVE_ASSERT(copy.decode_snapshot(snap) && copy.digest() == tree.digest(), "snapshot round trip");
      break;
    }
  }
  return 0;
}
