// One node's Zipkin read API showing the whole cluster's spans of a trace. Each node keeps the
// spans it made (trace/store.h); GET /api/v2/trace/{id} on any node asks every other member for
// its spans of that trace over the peer links and answers with all of them, so a Zipkin UI
// pointed at one node shows a write's follower and leader stages together with no collector.
//
//   gather(): the local spans, then a query to each member -> replies are merged (a span that
//   two nodes return once) -> the answer once every member has replied or after kWaitMs (a
//   member that is down or slow leaves its spans out; the answer says how many replied).
//
// Peer payloads (first byte of a peer message):
//   kQuery  u64 query id, then the trace id (hex text, as in the URL)
//   kReply  u64 query id, then the member's spans of it as a Zipkin v2 JSON array
// Event-loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace conclave::server {

class TraceGather {
 public:
  static constexpr uint8_t kQuery = 10;
  static constexpr uint8_t kReply = 11;
  static constexpr int64_t kWaitMs = 500;
  static constexpr size_t kMaxOpen = 64;  // queries waiting for replies at once

  struct Answer {
    std::string body;  // a JSON array of spans, oldest first
    size_t spans = 0;
    size_t asked = 0, replied = 0;  // members asked, members that answered in time
  };
  struct Hooks {
    std::function<void(uint64_t to, std::string payload)> send;
    /// The other members (voters and learners), to ask.
    std::function<std::vector<uint64_t>()> members;
    /// This node's spans of a trace as a JSON array ("[]" when it has none).
    std::function<std::string(const std::string& trace_id)> local_spans;
    std::function<void(int64_t ms, std::function<void()>)> after;
  };

  explicit TraceGather(Hooks hooks) : hooks_(std::move(hooks)) {}

  void gather(const std::string& trace_id, std::function<void(Answer)> done);
  void on_query(uint64_t from, std::string_view body);
  void on_reply(uint64_t from, std::string_view body);

 private:
  struct Open {
    std::set<uint64_t> waiting;
    size_t asked = 0;
    std::vector<std::string> arrays;  // JSON arrays, the local one first
    std::function<void(Answer)> done;
  };
  void finish(uint64_t id);
  static Answer merge(const std::vector<std::string>& arrays);

  Hooks hooks_;
  std::map<uint64_t, Open> open_;
  uint64_t next_id_ = 0;
};

}  // namespace conclave::server
