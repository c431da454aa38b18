// ZooKeeper client wire protocol: op codes, special xids and jute record encoding
// (zookeeper.jute of ZooKeeper 3.8). Pure functions over bytes; no sockets, no state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "state/command.h"
#include "state/types.h"

namespace conclave::zk {

namespace op {
constexpr int32_t kNotification = 0;
constexpr int32_t kCreate = 1;
constexpr int32_t kDelete = 2;
constexpr int32_t kExists = 3;
constexpr int32_t kGetData = 4;
constexpr int32_t kSetData = 5;
constexpr int32_t kGetAcl = 6;
constexpr int32_t kSetAcl = 7;
constexpr int32_t kGetChildren = 8;
constexpr int32_t kSync = 9;
constexpr int32_t kPing = 11;
constexpr int32_t kGetChildren2 = 12;
constexpr int32_t kCheck = 13;
constexpr int32_t kMulti = 14;
constexpr int32_t kCreate2 = 15;
constexpr int32_t kReconfig = 16;
constexpr int32_t kCheckWatches = 17;
constexpr int32_t kRemoveWatches = 18;
constexpr int32_t kCreateContainer = 19;
constexpr int32_t kDeleteContainer = 20;
constexpr int32_t kCreateTtl = 21;
constexpr int32_t kMultiRead = 22;
constexpr int32_t kAuth = 100;
constexpr int32_t kSetWatches = 101;
constexpr int32_t kSasl = 102;
constexpr int32_t kGetEphemerals = 103;
constexpr int32_t kGetAllChildrenNumber = 104;
constexpr int32_t kSetWatches2 = 105;
constexpr int32_t kAddWatch = 106;
constexpr int32_t kWhoAmI = 107;
constexpr int32_t kCreateSession = -10;
constexpr int32_t kCloseSession = -11;
constexpr int32_t kError = -1;
}  // namespace op

namespace xid {
constexpr int32_t kNotification = -1;
constexpr int32_t kPing = -2;
constexpr int32_t kAuth = -4;
constexpr int32_t kSetWatches = -8;
}  // namespace xid

const char* op_name(int32_t type);

struct ConnectRequest {
  int32_t protocol_version = 0;
  int64_t last_zxid_seen = 0;
  int32_t timeout_ms = 0;
  int64_t session_id = 0;
  std::string password;
  bool read_only = false;
  bool has_read_only = false;  // old clients omit the flag; the reply then omits it too
};
bool decode_connect(std::string_view body, ConnectRequest* out);

struct ConnectResponse {
  int32_t protocol_version = 0;
  int32_t timeout_ms = 0;
  int64_t session_id = 0;
  std::string password;
  bool read_only = false;
};
/// Encodes a whole frame (length prefix included).
Bytes encode_connect_response(const ConnectResponse& r, bool with_read_only);

/// Starts a reply frame: reserves the length, writes the header. Finish with finish_frame().
void begin_reply(Bytes& out, int32_t xid, int64_t zxid, int32_t err);
void finish_frame(Bytes& out, size_t frame_start);

void put_stat(Writer& w, const state::Stat& s);
void put_acl_list(Writer& w, const state::AclList& acl);
bool get_acl_list(Reader& r, state::AclList* acl);
void put_string_vector(Writer& w, const std::vector<std::string>& v);
bool get_string_vector(Reader& r, std::vector<std::string>* v);

/// Decodes a write request body into a state op. Returns false on malformed input.
bool decode_create(Reader& r, int32_t type, state::CreateOp* op);
bool decode_write_op(int32_t type, Reader& r, state::Op* op);

/// One element of a multi (write ops) or multiRead (getChildren/getData) request.
struct MultiElement {
  int32_t type = 0;
  state::Op op;         // write elements
  std::string path;     // read elements
  bool watch = false;   // read elements
};
/// Decodes a multi or multiRead body. Returns false on malformed input or an op type that is
/// not allowed in that kind of multi.
bool decode_multi(std::string_view body, bool read_only, std::vector<MultiElement>* out);

/// Encodes one watch notification frame (xid -1).
Bytes encode_notification(int64_t zxid, state::EventType type, int32_t keeper_state, std::string_view path);

}  // namespace conclave::zk
