#include "server/trace_gather.h"

#include <algorithm>

#include "common/bytes.h"
#include "common/json.h"

namespace conclave::server {
namespace {

enum class Kind { kSpans, kTraces, kSearch, kNames, kLocal };

Kind kind_of(const std::string& path) {
  std::string_view rest = std::string_view(path).substr(std::min(path.size(), sizeof("/api/v2/") - 1));
  if (rest.substr(0, 6) == "trace/") return Kind::kSpans;
  if (rest == "traceMany") return Kind::kTraces;
  if (rest == "traces") return Kind::kSearch;
  if (rest == "services" || rest == "spans" || rest == "remoteServices") return Kind::kNames;
  return Kind::kLocal;
}

json::array parse_array(const trace::ApiAnswer& a) {
  if (a.status != 200) return {};
  boost::system::error_code ec;
  auto v = json::parse(a.body, ec);
  if (ec || !v.is_array()) return {};  // a member's malformed answer is left out
  return std::move(v.as_array());
}

int64_t field(const json::object& o, const char* name) {
  auto it = o.find(name);
  return it != o.end() && it->value().is_int64() ? it->value().as_int64() : 0;
}

std::string trace_id_of(const json::array& spans) {
  for (const auto& s : spans)
    if (s.is_object())
      if (auto it = s.as_object().find("traceId"); it != s.as_object().end() && it->value().is_string())
        return std::string(it->value().as_string());
  return "";
}

// Spans of one trace, each once (a span as serialized), oldest first.
struct SpanSet {
  std::set<std::string> seen;
  std::vector<json::object> spans;
  void add(json::array arr) {
    for (auto& s : arr)
      if (s.is_object() && seen.insert(json::serialize(s)).second) spans.push_back(std::move(s.as_object()));
  }
  int64_t last_end() const {
    int64_t end = 0;
    for (const auto& s : spans) end = std::max(end, field(s, "timestamp") + field(s, "duration"));
    return end;
  }
  json::array sorted() {
    std::stable_sort(spans.begin(), spans.end(),
                     [](const json::object& a, const json::object& b) { return field(a, "timestamp") < field(b, "timestamp"); });
    json::array out;
    for (auto& s : spans) out.emplace_back(std::move(s));
    return out;
  }
};

// Traces (arrays of spans) from every answer, merged by trace id.
std::map<std::string, SpanSet> merge_traces(const std::vector<trace::ApiAnswer>& answers) {
  std::map<std::string, SpanSet> out;
  for (const auto& a : answers)
    for (auto& t : parse_array(a)) {
      if (!t.is_array()) continue;
      std::string id = trace_id_of(t.as_array());
      if (!id.empty()) out[id].add(std::move(t.as_array()));
    }
  return out;
}

trace::ApiAnswer traces_answer(std::map<std::string, SpanSet> traces, size_t limit) {
  std::vector<std::pair<int64_t, std::string>> order;
  for (const auto& [id, t] : traces) order.emplace_back(t.last_end(), id);
  std::sort(order.begin(), order.end(), std::greater<>());  // newest first
  json::array out;
  for (size_t i = 0; i < order.size() && i < limit; ++i) out.emplace_back(traces[order[i].second].sorted());
  return {200, json::serialize(out)};
}

trace::ApiAnswer merge(Kind kind, const std::string& path, const std::vector<trace::ApiAnswer>& answers) {
  switch (kind) {
    case Kind::kSpans: {
      SpanSet set;
      for (const auto& a : answers) set.add(parse_array(a));
      if (set.spans.empty()) return {404, "trace not found: " + path.substr(sizeof("/api/v2/trace/") - 1)};
      return {200, json::serialize(set.sorted())};
    }
    case Kind::kTraces:
    case Kind::kSearch:
      return traces_answer(merge_traces(answers), SIZE_MAX);
    case Kind::kNames: {
      std::set<std::string> names;
      for (const auto& a : answers)
        for (const auto& v : parse_array(a))
          if (v.is_string()) names.emplace(v.as_string());
      json::array out;
      for (const auto& n : names) out.emplace_back(n);
      return {200, json::serialize(out)};
    }
    case Kind::kLocal:
      break;
  }
  return answers.front();
}

}  // namespace

void TraceGather::query(const std::string& path, const Query& q, std::function<void(Answer)> done) {
  trace::ApiAnswer local = hooks_.local(path, q);
  Kind kind = kind_of(path);
  if (local.status == 400 || kind == Kind::kLocal) {
    done(Answer{std::move(local), 0, 0});
    return;
  }
  if (kind != Kind::kSearch) {
    ask(path, q, std::move(local), std::move(done));
    return;
  }
  // A search: the traces any member matched, newest first and limited; then every member's
  // spans of those traces.
  size_t limit = 10;
  if (auto it = q.find("limit"); it != q.end() && !it->second.empty() && it->second != "0")
    limit = static_cast<size_t>(std::max(1L, std::atol(it->second.c_str())));
  ask(path, q, std::move(local), [this, limit, done = std::move(done)](Answer found) mutable {
    auto traces = merge_traces({found.api});
    std::string ids;
    auto top = parse_array(traces_answer(std::move(traces), limit));
    for (const auto& t : top)
      if (t.is_array()) ids += (ids.empty() ? "" : ",") + trace_id_of(t.as_array());
    if (ids.empty()) {
      done(Answer{{200, "[]"}, found.asked, found.replied});
      return;
    }
    std::string many = "/api/v2/traceMany";
    Query mq{{"traceIds", ids}};
    ask(many, mq, hooks_.local(many, mq), [limit, done = std::move(done)](Answer whole) mutable {
      auto api = traces_answer(merge_traces({whole.api}), limit);
      done(Answer{std::move(api), whole.asked, whole.replied});
    });
  });
}

void TraceGather::ask(std::string path, Query q, trace::ApiAnswer local, std::function<void(Answer)> done) {
  std::vector<uint64_t> members = hooks_.members ? hooks_.members() : std::vector<uint64_t>{};
  const Kind kind = kind_of(path);
  if (members.empty() || !hooks_.send || open_.size() >= kMaxOpen) {
    done(Answer{merge(kind, path, {std::move(local)}), members.size(), 0});
    return;
  }
  uint64_t id = ++next_id_;
  Open& o = open_[id];
  o.path = std::move(path);
  o.query = std::move(q);
  o.answers.push_back(std::move(local));
  o.done = std::move(done);
  o.asked = members.size();
  std::string payload(1, static_cast<char>(kQuery));
  Writer w(payload);
  w.u64(id);
  w.blob(o.path);
  w.u32(static_cast<uint32_t>(o.query.size()));
  for (const auto& [k, v] : o.query) {
    w.blob(k);
    w.blob(v);
  }
  for (uint64_t m : members) {
    o.waiting.insert(m);
    hooks_.send(m, payload);
  }
  hooks_.after(kWaitMs, [this, id] { finish(id); });
}

void TraceGather::on_query(uint64_t from, std::string_view body) {
  Reader r(body);
  uint64_t id = r.u64();
  std::string path(r.blob());
  uint32_t n = r.u32();
  if (!r.ok() || n > r.remaining() / 8 || path.rfind("/api/v2/", 0) != 0) return;
  Query q;
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    std::string k(r.blob());
    q[k] = std::string(r.blob());
  }
  if (!r.ok()) return;
  trace::ApiAnswer a = hooks_.local(path, q);
  std::string reply(1, static_cast<char>(kReply));
  Writer w(reply);
  w.u64(id);
  w.u32(static_cast<uint32_t>(a.status));
  w.raw(a.body);
  hooks_.send(from, std::move(reply));
}

void TraceGather::on_reply(uint64_t from, std::string_view body) {
  Reader r(body);
  uint64_t id = r.u64();
  int status = static_cast<int>(r.u32());
  if (!r.ok()) return;
  auto it = open_.find(id);
  if (it == open_.end() || !it->second.waiting.erase(from)) return;  // late, or not asked
  it->second.answers.push_back(trace::ApiAnswer{status, std::string(r.rest())});
  if (it->second.waiting.empty()) finish(id);
}

void TraceGather::finish(uint64_t id) {
  auto it = open_.find(id);
  if (it == open_.end()) return;  // answered already
  Open o = std::move(it->second);
  open_.erase(it);
  Answer a{merge(kind_of(o.path), o.path, o.answers), o.asked, o.asked - o.waiting.size()};
  o.done(std::move(a));
}

}  // namespace conclave::server
