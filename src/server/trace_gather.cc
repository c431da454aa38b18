#include "server/trace_gather.h"

#include <algorithm>

#include "common/bytes.h"
#include "common/json.h"

namespace conclave::server {

void TraceGather::gather(const std::string& trace_id, std::function<void(Answer)> done) {
  std::vector<uint64_t> members = hooks_.members ? hooks_.members() : std::vector<uint64_t>{};
  if (members.empty() || !hooks_.send || open_.size() >= kMaxOpen) {
    Answer a = merge({hooks_.local_spans(trace_id)});
    done(std::move(a));
    return;
  }
  uint64_t id = ++next_id_;
  Open& q = open_[id];
  q.arrays.push_back(hooks_.local_spans(trace_id));
  q.done = std::move(done);
  q.asked = members.size();
  for (uint64_t m : members) {
    q.waiting.insert(m);
    std::string payload(1, static_cast<char>(kQuery));
    Writer w(payload);
    w.u64(id);
    w.raw(trace_id);
    hooks_.send(m, std::move(payload));
  }
  hooks_.after(kWaitMs, [this, id] { finish(id); });
}

void TraceGather::on_query(uint64_t from, std::string_view body) {
  Reader r(body);
  uint64_t id = r.u64();
  std::string_view trace_id = r.rest();
  if (!r.ok() || trace_id.size() > 32) return;
  std::string reply(1, static_cast<char>(kReply));
  Writer w(reply);
  w.u64(id);
  w.raw(hooks_.local_spans(std::string(trace_id)));
  hooks_.send(from, std::move(reply));
}

void TraceGather::on_reply(uint64_t from, std::string_view body) {
  Reader r(body);
  uint64_t id = r.u64();
  if (!r.ok()) return;
  auto it = open_.find(id);
  if (it == open_.end() || !it->second.waiting.erase(from)) return;  // late, or not asked
  it->second.arrays.emplace_back(r.rest());
  if (it->second.waiting.empty()) finish(id);
}

void TraceGather::finish(uint64_t id) {
  auto it = open_.find(id);
  if (it == open_.end()) return;  // answered already
  Open q = std::move(it->second);
  open_.erase(it);
  Answer a = merge(q.arrays);
  a.asked = q.asked;
  a.replied = q.asked - q.waiting.size();
  q.done(std::move(a));
}

TraceGather::Answer TraceGather::merge(const std::vector<std::string>& arrays) {
  std::vector<json::object> spans;
  std::set<std::string> seen;  // a span as serialized: the same one from two nodes counts once
  for (const auto& text : arrays) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_array()) continue;  // a member's malformed reply is left out
    for (auto& s : v.as_array()) {
      if (!s.is_object() || !seen.insert(json::serialize(s)).second) continue;
      spans.push_back(std::move(s.as_object()));
    }
  }
  auto ts = [](const json::object& o) {
    auto it = o.find("timestamp");
    return it != o.end() && it->value().is_int64() ? it->value().as_int64() : 0;
  };
  std::stable_sort(spans.begin(), spans.end(), [&](const json::object& a, const json::object& b) { return ts(a) < ts(b); });
  json::array out;
  for (auto& s : spans) out.emplace_back(std::move(s));
  Answer a;
  a.spans = out.size();
  a.body = json::serialize(out);
  return a;
}

}  // namespace conclave::server
