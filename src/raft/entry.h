// Log entry and hard-state types shared by the Raft core and the write-ahead log.
// A single node is a one-member Raft group: every write, on one node or many, becomes an Entry
// with a term and an index, is made durable by storage/, and is applied by state/ in index order.
#pragma once

#include <cstdint>

#include "common/bytes.h"

namespace conclave::raft {

using Term = uint64_t;
using Index = uint64_t;
using NodeId = uint64_t;

enum class EntryType : uint8_t {
  kCommand = 1,  // a state-machine command (state/command.h), opaque to Raft and storage
  kNoop = 2,     // appended by a new leader to commit entries of earlier terms (Raft §5.4.2)
  kConfig = 3,   // cluster membership change
};

struct Entry {
  Term term = 0;
  Index index = 0;
  EntryType type = EntryType::kCommand;
  Bytes data;
};

/// What a node must persist before it answers any message (Raft Figure 2, "Persistent state").
struct HardState {
  Term term = 0;
  NodeId vote = 0;
  Index commit = 0;
  bool operator==(const HardState&) const = default;
};

}  // namespace conclave::raft
