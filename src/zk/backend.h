// What the ZooKeeper front-end needs from the node it runs in: the front-end-neutral replica
// interface (server/replica.h). Tests implement it with an in-memory fake.
#pragma once

#include "server/replica.h"

namespace conclave::zk {

using Backend = server::Replica;
using NodeInfo = server::ReplicaInfo;

}  // namespace conclave::zk
