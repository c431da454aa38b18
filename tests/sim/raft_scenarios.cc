// Data-driven scenario tests for the pure Raft core, in the style of etcd-io/raft's testdata.
//
// Each file in tests/sim/scenarios/ is a script. A block is a command line, a `----` line, and the
// output the command must produce, ended by a blank line; `#` lines before a command are comments.
// The runner replays every command against real `raft::Core`s and compares outputs; a difference
// fails the file and prints both. `--rewrite` writes the actual outputs back instead (review the
// diff before committing it: the expected output is the specification).
//
// The harness drives cores the way server::RaftDriver does, but every step is explicit: a Ready
// is printed, written to the node's simulated disk (or held unsynced), and its messages queued;
// nothing moves until a command moves it. After every command three invariants are checked, and a
// break is printed as a `VIOLATION:` line (the expected outputs contain none):
//   * election safety: at most one leader per term;
//   * state-machine safety: no two nodes apply different entries at one index;
//   * leader completeness: a leader holds every entry any node has applied.
//
// Commands (ids are node numbers; key=value options may follow):
//   add-nodes N [voters=1,2,3] [learners=4] [pre-vote=false] [check-quorum=false]
//               [max-entries=K] [max-inflight=K]   N new nodes; voters default to the new ones
//   campaign ID | tick ID [N] | propose ID DATA | conf-change ID add-voter|add-learner|remove NODE
//   transfer ID TO | read-index ID CTX | compact ID INDEX | unreachable ID PEER
//   process-ready ID... [sync=false] [send-early]   handle each node's Readys; unsynced batches keep
//                       their messages until `sync` unless send-early (a leader's appends, §10.2.1)
//   sync ID             the node's unsynced batches become durable, in order: messages leave, then persisted()
//   deliver [from=X] [to=Y] [type=T] [count=N] [dup]   step queued messages (dup: keep a copy queued)
//   drop [from=X] [to=Y] [type=T]   remove queued messages
//   stabilize           process Readys (synced) and deliver everything until nothing moves
//   isolate ID | cut A B | heal     drop messages to and from ID / between A and B / none
//   crash ID            the node stops; unsynced batches and their messages are lost
//   restart ID          the node starts again from its disk
//   status [ID...] | log ID | net
//
// Usage: conclave_raft_scenarios [--rewrite] FILE...
#include <algorithm>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "raft/core.h"

using namespace conclave;
using namespace conclave::raft;

namespace {

// ---- formatting ----

std::string fmt_entry(const Entry& e) {
  std::string s = std::to_string(e.term) + "/" + std::to_string(e.index) + " ";
  switch (e.type) {
    case EntryType::kNoop: return s + "noop";
    case EntryType::kCommand: return s + "\"" + e.data + "\"";
    case EntryType::kConfig: {
      ConfChange cc{};
      if (!decode_conf_change(e.data, &cc)) return s + "conf(?)";
      const char* t = cc.type == ConfChangeType::kAddVoter    ? "add-voter"
                      : cc.type == ConfChangeType::kAddLearner ? "add-learner"
                                                               : "remove";
      return s + "conf(" + t + " " + std::to_string(cc.node) + ")";
    }
  }
  return s + "?";
}

std::string fmt_ids(const std::set<NodeId>& ids) {
  std::string s;
  for (NodeId id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return "(" + s + ")";
}

std::string fmt_conf(const ConfState& c) {
  std::string s = "voters=" + fmt_ids(c.voters);
  if (!c.learners.empty()) s += " learners=" + fmt_ids(c.learners);
  return s;
}

std::string fmt_msg(const Message& m) {
  std::string s = std::to_string(m.from) + "->" + std::to_string(m.to) + " " + message_type_name(m.type) +
                  " term=" + std::to_string(m.term);
  auto at = [](Term t, Index i) { return std::to_string(t) + "/" + std::to_string(i); };
  switch (m.type) {
    case MessageType::kPreVote:
    case MessageType::kVote:
      s += " last=" + at(m.log_term, m.index);
      if (m.context) s += " force";  // skips the peers' leader lease: a transfer, or after a won pre-vote
      break;
    case MessageType::kPreVoteResp:
    case MessageType::kVoteResp:
      if (m.reject) s += " rejected";
      break;
    case MessageType::kAppend: {
      s += " prev=" + at(m.log_term, m.index) + " commit=" + std::to_string(m.commit);
      std::string es;
      for (const auto& e : m.entries) es += (es.empty() ? "" : ", ") + fmt_entry(e);
      s += " entries=[" + es + "]";
      break;
    }
    case MessageType::kAppendResp:
      s += " index=" + std::to_string(m.index);
      if (m.reject) s += " rejected hint=" + at(m.log_term, m.reject_hint);
      break;
    case MessageType::kHeartbeat:
      s += " commit=" + std::to_string(m.commit);
      [[fallthrough]];
    case MessageType::kHeartbeatResp:
      if (m.context) s += " ctx=" + std::to_string(m.context);
      break;
    case MessageType::kSnapshot:
      if (m.snapshot) s += " snapshot=" + at(m.snapshot->meta.term, m.snapshot->meta.index) + " " + fmt_conf(m.snapshot->meta.conf);
      break;
    case MessageType::kTimeoutNow:
      break;
  }
  return s;
}

std::vector<std::string> split(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::set<NodeId> parse_ids(const std::string& s) {
  std::set<NodeId> ids;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');)
    if (!part.empty()) ids.insert(std::stoull(part));
  return ids;
}

struct ScenarioError {
  std::string what;
};

// ---- the cluster under test ----

struct Batch {
  std::optional<HardState> hs;
  std::vector<Entry> entries;
  std::vector<Message> held;  // leave when the batch is durable
  Index last = 0;             // persisted() once durable
};

struct Node {
  NodeId id = 0;
  Config config;
  ConfState initial_conf;
  std::unique_ptr<Core> core;
  bool up = true;
  // The disk: everything here survives a crash.
  HardState hs;
  std::optional<Snapshot> snapshot;
  std::vector<Entry> log;  // after the snapshot
  std::deque<Batch> unsynced;
};

class Cluster {
 public:
  std::string run(const std::vector<std::string>& args) {
    out_.clear();
    const std::string& cmd = args.at(0);
    std::vector<std::string> pos;
    std::map<std::string, std::string> opt;
    for (size_t i = 1; i < args.size(); ++i) {
      auto eq = args[i].find('=');
      if (eq == std::string::npos) pos.push_back(args[i]);
      else opt[args[i].substr(0, eq)] = args[i].substr(eq + 1);
    }
    auto id_at = [&](size_t i) -> Node& {
      if (i >= pos.size()) throw ScenarioError{"missing node id"};
      return node(std::stoull(pos[i]));
    };
    auto flag = [&](const char* name) { return std::find(pos.begin(), pos.end(), name) != pos.end(); };

    if (cmd == "add-nodes") {
      add_nodes(std::stoi(pos.at(0)), opt);
    } else if (cmd == "campaign") {
      id_at(0).core->campaign();
    } else if (cmd == "tick") {
      Node& n = id_at(0);
      int count = pos.size() > 1 ? std::stoi(pos[1]) : 1;
      for (int i = 0; i < count; ++i) n.core->tick();
    } else if (cmd == "propose") {
      auto r = id_at(0).core->propose(pos.at(1));
      say(r.ok() ? "index " + std::to_string(r.value()) : "error: " + r.error().message);
    } else if (cmd == "conf-change") {
      ConfChange cc{};
      const std::string& t = pos.at(1);
      cc.type = t == "add-voter" ? ConfChangeType::kAddVoter
                : t == "add-learner" ? ConfChangeType::kAddLearner
                : t == "remove" ? ConfChangeType::kRemove
                                : throw ScenarioError{"unknown conf change " + t};
      cc.node = std::stoull(pos.at(2));
      cc.address = "node" + pos.at(2);
      status_line(id_at(0).core->propose_conf_change(cc));
    } else if (cmd == "transfer") {
      status_line(id_at(0).core->transfer_leadership(std::stoull(pos.at(1))));
    } else if (cmd == "read-index") {
      status_line(id_at(0).core->read_index(std::stoull(pos.at(1))));
    } else if (cmd == "unreachable") {
      id_at(0).core->report_unreachable(std::stoull(pos.at(1)));
    } else if (cmd == "compact") {
      compact(id_at(0), std::stoull(pos.at(1)));
    } else if (cmd == "process-ready") {
      bool sync = opt.count("sync") == 0 || opt["sync"] != "false";
      for (const auto& p : pos)
        if (p != "send-early") process_ready(node(std::stoull(p)), sync, flag("send-early"));
    } else if (cmd == "sync") {
      sync(id_at(0));
    } else if (cmd == "deliver" || cmd == "drop") {
      deliver(opt, cmd == "drop", flag("dup"));
    } else if (cmd == "stabilize") {
      stabilize();
    } else if (cmd == "isolate") {
      isolated_.insert(id_at(0).id);
    } else if (cmd == "cut") {
      cuts_.insert({id_at(0).id, id_at(1).id});
    } else if (cmd == "heal") {
      isolated_.clear();
      cuts_.clear();
    } else if (cmd == "crash") {
      Node& n = id_at(0);
      say(std::to_string(n.id) + " crashed; " + std::to_string(n.unsynced.size()) + " unsynced batch(es) lost");
      n.unsynced.clear();
      n.up = false;
    } else if (cmd == "restart") {
      Node& n = id_at(0);
      start(n);
      status(n);
    } else if (cmd == "status") {
      if (pos.empty())
        for (auto& [id, n] : nodes_) status(*n);
      for (size_t i = 0; i < pos.size(); ++i) status(id_at(i));
    } else if (cmd == "log") {
      Node& n = id_at(0);
      const Core& c = *n.core;
      say("first=" + std::to_string(c.first_index()) + " last=" + std::to_string(c.last_index()) +
          " commit=" + std::to_string(c.commit_index()) + " applied=" + std::to_string(c.applied()));
      for (const auto& e : c.entries(c.first_index() - 1, c.last_index()))
        say("  " + (e.type == EntryType::kCommand && e.index <= c.released_through()
                        ? std::to_string(e.term) + "/" + std::to_string(e.index) + " released"
                        : fmt_entry(e)));
    } else if (cmd == "net") {
      for (const auto& m : net_) say(fmt_msg(m));
      if (net_.empty()) say("no messages in flight");
    } else {
      throw ScenarioError{"unknown command " + cmd};
    }
    check_invariants();
    if (out_.empty()) out_ = "ok\n";
    return out_;
  }

 private:
  void say(const std::string& line) { out_ += line + "\n"; }
  void status_line(const Status& s) { say(s.ok() ? "ok" : "error: " + s.error().message); }

  Node& node(NodeId id) {
    auto it = nodes_.find(id);
    if (it == nodes_.end()) throw ScenarioError{"no node " + std::to_string(id)};
    return *it->second;
  }

  void add_nodes(int count, std::map<std::string, std::string>& opt) {
    NodeId first = nodes_.size() + 1;
    ConfState conf;
    if (opt.count("voters")) conf.voters = parse_ids(opt["voters"]);
    else
      for (int i = 0; i < count; ++i) conf.voters.insert(first + i);
    if (opt.count("learners")) conf.learners = parse_ids(opt["learners"]);
    for (int i = 0; i < count; ++i) {
      auto n = std::make_unique<Node>();
      n->id = first + i;
      n->config.id = n->id;
      n->config.election_ticks = 10;
      n->config.heartbeat_ticks = 1;
      n->config.pre_vote = opt.count("pre-vote") == 0 || opt["pre-vote"] != "false";
      n->config.check_quorum = opt.count("check-quorum") == 0 || opt["check-quorum"] != "false";
      if (opt.count("max-entries")) n->config.max_entries_per_append = std::stoul(opt["max-entries"]);
      if (opt.count("max-inflight")) n->config.max_inflight = std::stoul(opt["max-inflight"]);
      n->initial_conf = conf;
      start(*n);
      nodes_[n->id] = std::move(n);
    }
  }

  void start(Node& n) {
    Bootstrap b;
    b.hard_state = n.hs;
    b.conf = n.snapshot ? n.snapshot->meta.conf : n.initial_conf;
    b.snapshot = n.snapshot;
    b.entries = n.log;
    b.applied = n.snapshot ? n.snapshot->meta.index : 0;
    n.core = std::make_unique<Core>(n.config, std::move(b), n.id);  // the id seeds the election jitter
    n.unsynced.clear();
    n.up = true;
  }

  void status(Node& n) {
    if (!n.up) {
      say(std::to_string(n.id) + ": down");
      return;
    }
    const Core& c = *n.core;
    say(std::to_string(n.id) + ": " + role_name(c.role()) + " term=" + std::to_string(c.term()) +
        " leader=" + std::to_string(c.leader()) + " commit=" + std::to_string(c.commit_index()) +
        " applied=" + std::to_string(c.applied()) + " last=" + std::to_string(c.last_index()) + " " +
        fmt_conf(c.conf()));
  }

  // The disk write of one batch: entries overwrite any suffix they conflict with.
  void write(Node& n, const Batch& b) {
    if (b.hs) n.hs = *b.hs;
    for (const auto& e : b.entries) {
      Index first = n.snapshot ? n.snapshot->meta.index + 1 : 1;
      if (e.index < first) continue;
      n.log.resize(std::min<size_t>(n.log.size(), e.index - first));
      n.log.push_back(e);
    }
  }

  void process_ready(Node& n, bool synced, bool send_early) {
    if (!n.up) throw ScenarioError{"node " + std::to_string(n.id) + " is down"};
    while (n.core->has_ready()) {
      Ready rd = n.core->ready();
      say("> " + std::to_string(n.id) + " ready" + (synced ? "" : " (unsynced)"));
      if (rd.hard_state)
        say("  hard-state term=" + std::to_string(rd.hard_state->term) + " vote=" +
            std::to_string(rd.hard_state->vote) + " commit=" + std::to_string(rd.hard_state->commit));
      if (rd.snapshot) {
        // Installed synchronously, as the driver does: the log restarts after it.
        const auto& m = rd.snapshot->meta;
        say("  install snapshot " + std::to_string(m.term) + "/" + std::to_string(m.index) + " " + fmt_conf(m.conf));
        n.snapshot = rd.snapshot;
        n.log.clear();
        for (auto& b : n.unsynced) b.entries.clear();
      }
      for (const auto& e : rd.entries) say("  append " + fmt_entry(e));
      for (const auto& e : rd.committed) {
        say("  apply " + fmt_entry(e));
        record_apply(n, e);
      }
      for (const auto& r : rd.read_states)
        say("  read-state ctx=" + std::to_string(r.context) + " index=" + std::to_string(r.index));
      for (const auto& m : rd.messages) say("  send " + fmt_msg(m));
      Batch b;
      b.hs = rd.hard_state;
      b.entries = rd.entries;
      b.last = rd.entries.empty() ? 0 : rd.entries.back().index;
      if (synced) {
        write(n, b);
        for (auto& m : rd.messages) net_.push_back(m);
      } else {
        for (auto& m : rd.messages) {
          if (send_early && m.type == MessageType::kAppend) net_.push_back(m);
          else b.held.push_back(m);
        }
        n.unsynced.push_back(std::move(b));
      }
      n.core->advance(rd);
      if (synced && rd.entries.size()) n.core->persisted(rd.entries.back().index);
    }
  }

  void sync(Node& n) {
    Index last = 0;
    for (auto& b : n.unsynced) {
      write(n, b);
      for (auto& m : b.held) net_.push_back(m);
      last = std::max(last, b.last);
    }
    say(std::to_string(n.id) + " synced " + std::to_string(n.unsynced.size()) + " batch(es)");
    n.unsynced.clear();
    if (last) n.core->persisted(last);
  }

  void compact(Node& n, Index index) {
    Snapshot s;
    s.meta.index = index;
    s.meta.term = n.core->term_at(index);
    s.meta.conf = n.core->conf();
    s.data = std::make_shared<const std::string>("state of " + std::to_string(n.id) + " at " + std::to_string(index));
    n.core->compact(s);
    // The driver writes the snapshot, then drops the log prefix it covers.
    Index first = n.snapshot ? n.snapshot->meta.index + 1 : 1;
    n.log.erase(n.log.begin(), n.log.begin() + static_cast<long>(std::min<size_t>(n.log.size(), index + 1 - first)));
    n.snapshot = s;
    say("snapshot " + std::to_string(s.meta.term) + "/" + std::to_string(index) + "; log now " +
        std::to_string(n.core->first_index()) + ".." + std::to_string(n.core->last_index()));
  }

  bool blocked(const Message& m) const {
    return isolated_.count(m.from) || isolated_.count(m.to) || cuts_.count({m.from, m.to}) ||
           cuts_.count({m.to, m.from});
  }

  void deliver(std::map<std::string, std::string>& opt, bool drop, bool dup) {
    auto matches = [&](const Message& m) {
      if (opt.count("from") && std::to_string(m.from) != opt["from"]) return false;
      if (opt.count("to") && std::to_string(m.to) != opt["to"]) return false;
      if (opt.count("type") && opt["type"] != message_type_name(m.type)) return false;
      return true;
    };
    size_t limit = opt.count("count") ? std::stoul(opt["count"]) : SIZE_MAX;
    std::vector<Message> picked;
    std::deque<Message> rest;
    for (auto& m : net_) {
      if (picked.size() < limit && matches(m)) picked.push_back(m);
      else rest.push_back(m);
    }
    net_ = std::move(rest);
    if (picked.empty()) say("no messages");
    for (auto& m : picked) {
      if (drop) {
        say("dropped " + fmt_msg(m));
        continue;
      }
      if (dup) net_.push_back(m);
      step(m, true);
    }
  }

  void step(const Message& m, bool print) {
    Node& to = node(m.to);
    if (blocked(m) || !to.up) {
      say("dropped " + fmt_msg(m) + (to.up ? " (partition)" : " (down)"));
      return;
    }
    if (print) say(fmt_msg(m));
    to.core->step(m);
  }

  void stabilize() {
    for (int round = 0; round < 200; ++round) {
      bool moved = false;
      for (auto& [id, n] : nodes_)
        if (n->up && n->core->has_ready()) {
          process_ready(*n, true, false);
          moved = true;
        }
      std::deque<Message> batch = std::move(net_);
      net_.clear();
      for (auto& m : batch) {
        step(m, false);
        moved = true;
      }
      if (!moved) return;
    }
    say("VIOLATION: no quiet state within 200 rounds");
  }

  // ---- invariants ----

  void record_apply(Node& n, const Entry& e) {
    auto [it, fresh] = applied_.try_emplace(e.index, Applied{e.term, n.id, n.core->term()});
    if (!fresh && it->second.term != e.term)
      say("VIOLATION: state-machine safety: node " + std::to_string(n.id) + " applies " + fmt_entry(e) +
          " where node " + std::to_string(it->second.node) + " applied an entry of term " +
          std::to_string(it->second.term));
  }

  void check_invariants() {
    for (auto& [id, n] : nodes_) {
      if (!n->up || n->core->role() != Role::kLeader) continue;
      const Core& c = *n->core;
      auto [it, fresh] = leaders_.try_emplace(c.term(), id);
      if (!fresh && it->second != id)
        say("VIOLATION: election safety: nodes " + std::to_string(it->second) + " and " + std::to_string(id) +
            " both lead term " + std::to_string(c.term()));
      for (const auto& [index, a] : applied_) {
        if (index < c.first_index()) continue;  // compacted: covered by the leader's snapshot
        // The entry was committed at or before the term its first applier was in; leaders of
        // later terms must hold it (a deposed leader of an older term need not).
        if (c.term() <= a.applier_term) continue;
        if (c.term_at(index) != a.term && !reported_.count({id, index})) {
          reported_.insert({id, index});
          say("VIOLATION: leader completeness: leader " + std::to_string(id) + " of term " +
              std::to_string(c.term()) + " lacks applied entry " + std::to_string(a.term) + "/" +
              std::to_string(index));
        }
      }
    }
  }

  std::map<NodeId, std::unique_ptr<Node>> nodes_;
  std::deque<Message> net_;
  std::set<NodeId> isolated_;
  std::set<std::pair<NodeId, NodeId>> cuts_;
  struct Applied {
    Term term;          // of the entry
    NodeId node;        // the first node to apply it
    Term applier_term;  // that node's term then (>= the term the entry was committed in)
  };
  std::map<Index, Applied> applied_;
  std::map<Term, NodeId> leaders_;
  std::set<std::pair<NodeId, Index>> reported_;
  std::string out_;
};

// ---- the script format ----

struct Block {
  std::vector<std::string> comments;  // lines before the command, kept verbatim
  std::string command;
  int line = 0;
  std::string expected;
};

std::vector<Block> parse(const std::string& path, std::vector<std::string>* trailer) {
  std::ifstream in(path);
  if (!in) throw ScenarioError{"cannot open " + path};
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::vector<Block> blocks;
  Block cur;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& l = lines[i];
    if (l.empty() || l[0] == '#') {
      cur.comments.push_back(l);
      continue;
    }
    cur.command = l;
    cur.line = static_cast<int>(i + 1);
    if (i + 1 >= lines.size() || lines[i + 1] != "----")
      throw ScenarioError{path + ":" + std::to_string(i + 1) + ": expected ---- after the command"};
    i += 2;
    for (; i < lines.size() && !lines[i].empty(); ++i) cur.expected += lines[i] + "\n";
    blocks.push_back(std::move(cur));
    cur = Block{};
  }
  *trailer = cur.comments;
  return blocks;
}

bool run_file(const std::string& path, bool rewrite) {
  std::vector<std::string> trailer;
  std::vector<Block> blocks = parse(path, &trailer);
  Cluster cluster;
  std::string rewritten;
  bool ok = true;
  for (auto& b : blocks) {
    std::string actual;
    try {
      actual = cluster.run(split(b.command));
    } catch (const ScenarioError& e) {
      actual = "error: " + e.what + "\n";
    } catch (const std::exception& e) {
      actual = std::string("error: bad arguments (") + e.what() + ")\n";
    }
    for (const auto& c : b.comments) rewritten += c + "\n";
    rewritten += b.command + "\n----\n" + actual + "\n";
    if (rewrite) continue;
    if (ok && actual != b.expected) {
      std::printf("%s:%d: %s\n--- expected\n%s--- actual\n%s\n", path.c_str(), b.line, b.command.c_str(),
                  b.expected.c_str(), actual.c_str());
      ok = false;
    } else if (!ok) {
      // Later outputs differ anyway; what matters is whether the difference breaks an invariant.
      for (size_t at = actual.find("VIOLATION"); at != std::string::npos; at = actual.find("VIOLATION", at + 1))
        std::printf("%s:%d: %s: %s\n", path.c_str(), b.line, b.command.c_str(),
                    actual.substr(at, actual.find('\n', at) - at).c_str());
    }
  }
  for (const auto& c : trailer) rewritten += c + "\n";
  while (rewritten.size() >= 2 && rewritten.compare(rewritten.size() - 2, 2, "\n\n") == 0) rewritten.pop_back();
  if (rewrite) {
    std::ofstream(path) << rewritten;
    std::printf("rewrote %s\n", path.c_str());
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  bool rewrite = false;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--rewrite") rewrite = true;
    else files.push_back(a);
  }
  if (files.empty()) {
    std::fprintf(stderr, "usage: conclave_raft_scenarios [--rewrite] FILE...\n");
    return 2;
  }
  int failed = 0;
  for (const auto& f : files) {
    bool ok = false;
    try {
      ok = run_file(f, rewrite);
    } catch (const ScenarioError& e) {
      std::printf("%s\n", e.what.c_str());
    }
    if (!ok) ++failed;
  }
  std::printf("%zu scenario file(s), %d failed\n", files.size(), failed);
  return failed ? 1 : 0;
}
