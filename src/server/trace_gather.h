// One node's Zipkin read API over the whole cluster's spans. Each node keeps the spans it made
// (trace/store.h); a read on any node also asks every other member over the peer links and merges
// their answers, so a Zipkin UI pointed at one node shows a write's follower and leader stages
// together with no collector.
//
//   query(): this node's answer (trace/zipkin_api.h), then the same request to each member ->
//   replies are merged once every member has replied or after kWaitMs (a member that is down or
//   slow is left out; the answer says how many replied):
//     /trace/{id}, /traceMany   spans of each trace from every member, each span once;
//     /traces                   the traces any member matched (newest first, up to `limit`),
//                               then completed with every member's spans of them (a second round:
//                               the span that matched may be on one node, the rest on others);
//     /services, /spans, /remoteServices   the union of the names.
//   A request this node refuses (400) is answered at once; other paths are this node's alone.
//
// Peer payloads (first byte of a peer message):
//   kQuery  u64 query id, blob path, u32 n, n x (blob name, blob value): the request's query
//   kReply  u64 query id, u32 status, then the member's answer body
// Event-loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "trace/zipkin_api.h"

namespace conclave::server {

class TraceGather {
 public:
  static constexpr uint8_t kQuery = 10;
  static constexpr uint8_t kReply = 11;
  static constexpr int64_t kWaitMs = 500;
  static constexpr size_t kMaxOpen = 64;  // queries waiting for replies at once

  using Query = std::map<std::string, std::string>;
  struct Answer {
    trace::ApiAnswer api;
    size_t asked = 0, replied = 0;  // members asked, members that answered in time
  };
  struct Hooks {
    std::function<void(uint64_t to, std::string payload)> send;
    /// The other members (voters and learners), to ask.
    std::function<std::vector<uint64_t>()> members;
    /// This node's own answer (trace::zipkin_api over its store).
    std::function<trace::ApiAnswer(const std::string& path, const Query& query)> local;
    std::function<void(int64_t ms, std::function<void()>)> after;
  };

  explicit TraceGather(Hooks hooks) : hooks_(std::move(hooks)) {}

  /// Answers `path` (under /api/v2/) with every member's data.
  void query(const std::string& path, const Query& q, std::function<void(Answer)> done);
  void on_query(uint64_t from, std::string_view body);
  void on_reply(uint64_t from, std::string_view body);

 private:
  struct Open {
    std::string path;
    Query query;
    std::set<uint64_t> waiting;
    size_t asked = 0;
    std::vector<trace::ApiAnswer> answers;  // this node's first
    std::function<void(Answer)> done;
  };
  /// Sends the request to the members and calls `done` with every answer gathered.
  void ask(std::string path, Query q, trace::ApiAnswer local, std::function<void(Answer)> done);
  void finish(uint64_t id);

  Hooks hooks_;
  std::map<uint64_t, Open> open_;
  uint64_t next_id_ = 0;
};

}  // namespace conclave::server
