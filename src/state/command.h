// Replicated commands: what the leader puts in a log entry and every node applies.
//
// A command is deterministic given the state it is applied to: the leader stamps the wall time,
// the session id and password, and the caller's authenticated ids into it, so applying never
// reads a clock or any per-node state (see docs/ARCHITECTURE.md, "Write path"). Outcomes such
// as ZNODEEXISTS are decided at apply time, identically on every node.
//
// Front-ends build commands from their own protocol (ZooKeeper requests, Consul KV calls) and
// read the ApplyResult; the encoding below is the stable on-disk and on-wire format.
//
// Encoding: every struct lists its fields once, in `fields(v)`; the same list drives encoding
// and decoding (command.cc), so the two cannot drift. A new field goes at the end of its list
// and bumps kCommandFormat; decoders keep reading every older format (version 1 entries, written
// before the field lists, are still decoded by their own reader).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "state/catalog_types.h"
#include "state/types.h"

namespace conclave::state {

struct CreateOp {
  std::string path;
  std::string data;
  bool data_null = false;  // jute null buffer (length -1)
  AclList acl;
  CreateMode mode = CreateMode::kPersistent;
  int64_t ttl_ms = -1;  // only for the TTL modes; -1 elsewhere, as ZooKeeper's create sends
};
struct DeleteOp {
  std::string path;
  int32_t version = -1;
};
struct SetDataOp {
  std::string path;
  std::string data;
  bool data_null = false;
  int32_t version = -1;
};
struct SetAclOp {
  std::string path;
  AclList acl;
  int32_t version = -1;
};
struct CheckOp {
  std::string path;
  int32_t version = -1;
};
/// Consul KV verbs (api.KVOp), applied to the znode at `path` (the key's znode, "/" + key).
enum class KvVerb : uint8_t {
  kSet = 1,
  kCas = 2,           // set if ModifyIndex == index (0: only if the key does not exist)
  kLock = 3,          // acquire with `session`
  kUnlock = 4,        // release by `session`
  kGet = 5,
  kGetTree = 6,
  kCheckIndex = 7,
  kCheckSession = 8,
  kCheckNotExists = 9,
  kDelete = 10,
  kDeleteTree = 11,   // every key whose name starts with the key (a string prefix, as Consul)
  kDeleteCas = 12,
};
struct KvOp {
  KvVerb verb = KvVerb::kGet;
  std::string path;
  std::string value;
  uint64_t flags = 0;
  int64_t index = 0;
  SessionId session = 0;
};
/// Consul's catalog register (structs.RegisterRequest): upserts the node, then (optionally) one
/// service replacing any with its id, then each check (by id). Applied by state::Catalog.
struct CatalogRegisterOp {
  NodeSpec node;
  bool has_service = false;
  ServiceSpec service;
  std::vector<CheckSpec> checks;
  bool skip_node_update = false;  // the node must exist; its fields are left as they are
};
/// Consul's catalog deregister: the whole node (service_id and check_id empty), one service and
/// its checks, or one check.
struct CatalogDeregisterOp {
  std::string node;
  std::string service_id;
  std::string check_id;
};
/// Check results from the runners, batched: only entries that change status or output apply.
struct CheckUpdateOp {
  std::vector<CheckStatus> updates;
};
/// Consul's txn Node, Service and Check operations (api.TxnNodeOp, TxnServiceOp, TxnCheckOp).
enum class CatalogTarget : uint8_t { kNode = 1, kService = 2, kCheck = 3 };
enum class CatalogVerb : uint8_t { kSet = 1, kCas = 2, kGet = 3, kDelete = 4, kDeleteCas = 5 };
struct CatalogTxnOp {
  CatalogTarget target = CatalogTarget::kNode;
  CatalogVerb verb = CatalogVerb::kGet;
  NodeSpec node;          // kNode
  std::string node_name;  // kService and kCheck: the node they are on
  ServiceSpec service;    // kService
  CheckSpec check;        // kCheck
  int64_t index = 0;      // cas / delete-cas: the record's ModifyIndex (0: must not exist, for cas)
};
// New alternatives go at the end: the variant's index is the op's tag in the encoding.
using Op = std::variant<CreateOp, DeleteOp, SetDataOp, SetAclOp, CheckOp, KvOp, CatalogRegisterOp,
                        CatalogDeregisterOp, CheckUpdateOp, CatalogTxnOp>;

/// The Consul side of a session (api.SessionEntry); absent for ZooKeeper sessions.
struct ConsulSessionSpec {
  std::string uuid;
  std::string name;
  std::string node;
  uint8_t behavior = 0;       // 0 release, 1 delete
  int64_t ttl_ms = 0;         // 0: no TTL
  int64_t lock_delay_ms = 15000;
  std::vector<std::string> node_checks;
  std::vector<std::string> service_checks;
  bool operator==(const ConsulSessionSpec&) const = default;
};

enum class CommandKind : uint8_t {
  kCreateSession = 1,
  kCloseSession = 2,
  kTxn = 3,         // one op, or a multi (all-or-nothing)
  kReap = 4,        // leader-initiated removal of an expired container or TTL node
  kNoop = 5,
  kUserEvent = 6,   // Consul's /v1/event/fire: changes no state; every node's agent sees it applied
  kMembership = 7,  // a change to /zookeeper/config's text (state/cluster_config.h)
};

/// kMembership. kAddVoter/kAddLearner/kRemove mirror a committed Raft membership entry: the node
/// applies them when it applies that entry, they are never proposed as commands. kAnnounce is
/// proposed by a member to publish its own line (its client address) and travels in the log.
enum class MemberChange : uint8_t { kAddVoter = 1, kAddLearner = 2, kRemove = 3, kAnnounce = 4 };
struct MemberOp {
  MemberChange change = MemberChange::kAnnounce;
  uint64_t id = 0;
  std::string raft_address;  // host:port of the member's Raft listener
  std::string spec;          // server spec (ZooKeeper's form) given to reconfig or announced; may be ""
};

struct Command {
  CommandKind kind = CommandKind::kNoop;
  SessionId session = 0;
  int64_t time_ms = 0;          // leader wall clock, used for ctime/mtime and TTL decisions
  std::vector<Id> auth;         // the session's authenticated ids when the request was made
  bool multi = false;
  std::vector<Op> ops;
  int32_t timeout_ms = 0;       // kCreateSession
  std::string password;         // kCreateSession
  std::string reap_path;        // kReap
  std::string trace;            // opaque trace context (trace/), carried through the log
  uint64_t origin = 0;          // (proposing node id << 48) | sequence: matches the reply to the request
  bool consul = false;          // kCreateSession: a Consul session described by consul_session
  ConsulSessionSpec consul_session;
  std::string event;            // kUserEvent: the event as JSON (format 4)
  MemberOp member;              // kMembership (format 6)
};

/// The encoding's version, the first byte of every encoded command. Format 3 adds the catalog
/// ops (same field lists otherwise: format-2 entries decode with the same reader); format 4 adds
/// Command::event (fields read only from entries of that format on); format 5 adds CatalogTxnOp;
/// format 6 adds Command::member; format 7 writes integers, lengths and counts as varints (a
/// create of 100 bytes: 301 -> 217 bytes per WAL record).
inline constexpr uint8_t kCommandFormat = 7;
/// From this format on, integers, lengths and counts are varints (formats 2-6: fixed width).
inline constexpr uint8_t kVarintFormat = 7;

/// A Consul key as a KV op saw it (txn results report the state at the op, not at the end).
struct KvRead {
  std::string path;
  std::string value;
  uint64_t flags = 0;
  uint64_t lock_index = 0;
  SessionId session = 0;
  int64_t create_index = 0;
  int64_t modify_index = 0;
};

/// A catalog record as a CatalogTxnOp saw it (txn results).
struct CatalogRecord {
  CatalogTarget target = CatalogTarget::kNode;
  std::string node_name;
  NodeSpec node;
  ServiceSpec service;
  CheckSpec check;
  int64_t create_index = 0;
  int64_t modify_index = 0;
};

struct OpResult {
  Code code = Code::kOk;
  std::string path;  // created path (sequential name included)
  Stat stat;
  std::vector<KvRead> kv;  // KvOp: the key after the op (get-tree: every key under the prefix)
  std::string error;       // catalog ops: Consul's error text when the op is refused
  std::vector<CatalogRecord> catalog;  // CatalogTxnOp set/cas/get: the record after the op
};

struct ApplyResult {
  Code code = Code::kOk;          // first failing op's code, or kOk
  int64_t zxid = 0;               // the zxid this command was applied at
  std::vector<OpResult> results;  // one per op (multi: ZooKeeper's per-op codes)
  std::vector<Trigger> triggers;  // changes, for the watch registries of each node
  /// Catalog index keys that moved (Catalog::index_key), for blocking queries on the catalog.
  std::vector<std::string> catalog_changes;
};

void encode_command(const Command& c, Bytes& out);
/// In an older format (2 to kCommandFormat): for tests that show old entries still decode.
void encode_command_as(const Command& c, uint8_t format, Bytes& out);

/// The same field-list encoding for the catalog's records (the catalog's snapshot section).
void encode_record(Writer& w, const NodeSpec& v);
void encode_record(Writer& w, const ServiceSpec& v);
void encode_record(Writer& w, const CheckSpec& v);
bool decode_record(Reader& r, NodeSpec* v);
bool decode_record(Reader& r, ServiceSpec* v);
bool decode_record(Reader& r, CheckSpec* v);
/// False when `bytes` is not a valid command (a corrupt or foreign entry).
bool decode_command(std::string_view bytes, Command* out);

}  // namespace conclave::state
