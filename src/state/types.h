// The vocabulary of the replicated data model: znode Stat, ACLs, outcome codes and watch
// events. The tree is ZooKeeper's data model, so outcomes use ZooKeeper's error numbers; the
// Consul front-end maps them to HTTP semantics.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace conclave::state {

using Zxid = int64_t;
using SessionId = int64_t;

/// ZooKeeper KeeperException.Code values (zookeeper.jute / KeeperException.java).
enum class Code : int32_t {
  kOk = 0,
  kSystemError = -1,
  kRuntimeInconsistency = -2,
  kDataInconsistency = -3,
  kConnectionLoss = -4,
  kMarshallingError = -5,
  kUnimplemented = -6,
  kOperationTimeout = -7,
  kBadArguments = -8,
  kUnknownSession = -12,
  kNewConfigNoQuorum = -13,
  kReconfigInProgress = -14,
  kApiError = -100,
  kNoNode = -101,
  kNoAuth = -102,
  kBadVersion = -103,
  kNoChildrenForEphemerals = -108,
  kNodeExists = -110,
  kNotEmpty = -111,
  kSessionExpired = -112,
  kInvalidCallback = -113,
  kInvalidAcl = -114,
  kAuthFailed = -115,
  kSessionMoved = -118,
  kNotReadOnly = -119,
  kNoWatcher = -121,
  kRequestTimeout = -122,
  kReconfigDisabled = -123,
  kQuotaExceeded = -125,
  kThrottled = -127,
};

/// ZooKeeper's Stat record, field for field.
struct Stat {
  int64_t czxid = 0;
  int64_t mzxid = 0;
  int64_t ctime = 0;
  int64_t mtime = 0;
  int32_t version = 0;
  int32_t cversion = 0;
  int32_t aversion = 0;
  int64_t ephemeral_owner = 0;
  int32_t data_length = 0;
  int32_t num_children = 0;
  int64_t pzxid = 0;
  bool operator==(const Stat&) const = default;
};

namespace perms {
constexpr int32_t kRead = 1;
constexpr int32_t kWrite = 2;
constexpr int32_t kCreate = 4;
constexpr int32_t kDelete = 8;
constexpr int32_t kAdmin = 16;
constexpr int32_t kAll = 31;
}  // namespace perms

struct Id {
  std::string scheme;
  std::string id;
  bool operator==(const Id&) const = default;
  auto operator<=>(const Id&) const = default;
};

struct Acl {
  int32_t perms = 0;
  Id id;
  bool operator==(const Acl&) const = default;
  auto operator<=>(const Acl&) const = default;
};
using AclList = std::vector<Acl>;

inline AclList open_acl_unsafe() { return {Acl{perms::kAll, Id{"world", "anyone"}}}; }

/// ZooKeeper Watcher.Event.EventType.
enum class EventType : int32_t {
  kNone = -1,
  kNodeCreated = 1,
  kNodeDeleted = 2,
  kNodeDataChanged = 3,
  kNodeChildrenChanged = 4,
  kDataWatchRemoved = 5,
  kChildWatchRemoved = 6,
  kPersistentWatchRemoved = 7,
};

/// A change that may fire watches: emitted by apply, matched against watchers by the watch
/// registry of each node (watches are per connection, not replicated).
struct Trigger {
  EventType type;
  std::string path;
};

/// Create modes, as CreateMode.toFlag() numbers them.
enum class CreateMode : int32_t {
  kPersistent = 0,
  kEphemeral = 1,
  kPersistentSequential = 2,
  kEphemeralSequential = 3,
  kContainer = 4,
  kPersistentWithTtl = 5,
  kPersistentSequentialWithTtl = 6,
};

inline bool is_sequential(CreateMode m) {
  return m == CreateMode::kPersistentSequential || m == CreateMode::kEphemeralSequential ||
         m == CreateMode::kPersistentSequentialWithTtl;
}
inline bool is_ephemeral(CreateMode m) {
  return m == CreateMode::kEphemeral || m == CreateMode::kEphemeralSequential;
}
inline bool is_ttl(CreateMode m) {
  return m == CreateMode::kPersistentWithTtl || m == CreateMode::kPersistentSequentialWithTtl;
}

/// ephemeralOwner encodings of ZooKeeper's EphemeralType (extended types enabled).
constexpr int64_t kContainerOwner = static_cast<int64_t>(0x8000000000000000ull);
constexpr int64_t kTtlOwnerMask = static_cast<int64_t>(0xFF00000000000000ull);
constexpr int64_t kMaxTtlMs = 0x000000FFFFFFFFFFll;  // EphemeralType.TTL.maxValue()
inline int64_t ttl_owner(int64_t ttl_ms) { return kTtlOwnerMask | ttl_ms; }
inline bool owner_is_ttl(int64_t owner) { return (owner & kTtlOwnerMask) == kTtlOwnerMask && owner != -1; }
inline bool owner_is_container(int64_t owner) { return owner == kContainerOwner; }
inline bool owner_is_session(int64_t owner) { return owner != 0 && !owner_is_ttl(owner) && !owner_is_container(owner); }

}  // namespace conclave::state
