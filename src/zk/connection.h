// One ZooKeeper client connection: framing, handshake, the per-session request queue.
// See server.h for the ordering rules this class implements.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <functional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "net/stream.h"
#include "state/command.h"
#include "state/types.h"
#include "trace/context.h"
#include "trace/span.h"

namespace conclave::zk {

class ZkServer;

class Connection : public net::StreamHandler {
 public:
  Connection(ZkServer& server, net::Stream& stream, uint64_t id);
  ~Connection() override;

  void on_data(std::string_view bytes) override;
  void on_close() override;

  uint64_t id() const { return id_; }
  state::SessionId session_id() const { return session_id_; }
  /// The session ZkServer::bind_session made this connection the owner of (0: none).
  state::SessionId bound_session() const { return bound_session_; }
  int32_t timeout_ms() const { return timeout_ms_; }
  const std::string& remote_address() const { return stream_.remote_address(); }
  uint16_t remote_port() const { return stream_.remote_port(); }
  uint64_t received() const { return received_; }
  uint64_t sent() const { return sent_; }
  size_t queued() const { return queue_.size(); }
  int64_t last_zxid() const { return last_zxid_; }
  struct Stats {
    int64_t established_ms = 0;
    std::string last_op = "NA";
    int32_t last_cxid = 0;
    int64_t last_response_ms = 0;
    int64_t last_latency_ms = 0;
    int64_t min_latency_ms = -1;
    int64_t max_latency_ms = 0;
    int64_t sum_latency_ms = 0;
    int64_t responses = 0;
  };
  const Stats& stats() const { return stats_; }
  const std::vector<state::Id>& auth_ids() const { return auth_; }

  /// Sends a watch notification right away (ahead of queued replies, as ZooKeeper does).
  void notify(state::EventType type, const std::string& path);
  /// Closes the socket; the session lives on until it expires or is closed.
  void close();
  /// Forgets the session (it moved to another connection or expired), then closes.
  void detach_session_and_close();

 private:
  enum class Phase { kAwaitConnect, kAwaitSession, kReady, kClosed };
  struct Pending {
    int32_t xid = 0;
    int32_t type = 0;
    bool is_read = false;
    bool done = false;
    bool close_after = false;
    std::string body;  // read requests: their record, executed when they reach the head
    Bytes reply;
    int64_t start_us = 0;  // monotonic
    std::unique_ptr<trace::Span> span;  // when this request is traced
  };

  bool handle_frame(std::string_view frame);
  bool handle_connect(std::string_view frame);
  void finish_connect(state::SessionId id, int32_t timeout, const std::string& password, bool ok,
                      bool with_read_only);
  bool handle_request(std::string_view frame);
  /// A span for this request when it is traced (sampled, or the session joined a sampled trace).
  std::unique_ptr<trace::Span> start_span(int32_t xid, int32_t type, std::string_view body);
  void finish_span(Pending& p, const Bytes& reply);
  void handle_auth(int32_t xid, std::string_view body);
  void handle_sasl(int32_t xid, std::string_view body);
  void handle_reconfig(int32_t xid, std::string_view body);
  void reply_error(int32_t xid, int32_t type, state::Code c, std::string_view body = {});
  using Encoder = std::function<Bytes(const Pending&, const state::ApplyResult&)>;
  /// Appends a request slot to the session's FIFO and returns it (its address is stable).
  Pending* enqueue(int32_t xid, int32_t type, std::string body = {});
  /// Proposes `cmd`; once applied, `encode` builds the slot's reply and flush() sends it in order.
  void propose_into(Pending* slot, state::Command cmd, Encoder encode);
  /// `multi_types`: for a multi, each element's op type (the reply encodes results by type).
  void propose_write(int32_t xid, int32_t type, std::vector<state::Op> ops, bool multi, std::string multi_types = {});
  void enqueue_read(int32_t xid, int32_t type, std::string_view body);
  Bytes execute_read(const Pending& p);
  Bytes encode_write_reply(const Pending& p, const state::ApplyResult& r);
  void flush();
  void send(Bytes bytes);
  bool try_four_letter();
  void malformed(const char* why);

  ZkServer& server_;
  net::Stream& stream_;
  uint64_t id_;
  Phase phase_ = Phase::kAwaitConnect;
  std::string inbuf_;
  size_t inbuf_pos_ = 0;
  state::SessionId session_id_ = 0;
  state::SessionId bound_session_ = 0;  // set by ZkServer::bind_session
  friend class ZkServer;
  int32_t timeout_ms_ = 0;
  std::vector<state::Id> auth_;
  // The trace this session's requests join (addauth "b3" or "traceparent"); see docs/observability.md.
  trace::Incoming joined_;
  std::unique_ptr<trace::Span> current_span_;  // the request being handled; enqueue() takes it
  // A list, not a deque: an idle connection then holds no queue memory at all (a deque allocates
  // its first block up front), and slot addresses stay stable either way.
  std::list<Pending> queue_;
  uint64_t received_ = 0;
  uint64_t sent_ = 0;
  int64_t last_zxid_ = -1;
  Stats stats_;
  // SASL DIGEST-MD5 exchange state.
  int sasl_step_ = 0;
  std::string sasl_nonce_;
};

}  // namespace conclave::zk
