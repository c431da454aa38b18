#include "raft/core.h"

#include <algorithm>

#include "common/assert.h"

namespace conclave::raft {

// ---- construction and bookkeeping ----

Core::Core(const Config& config, Bootstrap boot, uint64_t seed) : config_(config), rng_(seed ^ 0x9E3779B97F4A7C15ull) {
  CONCLAVE_ASSERT(config_.id != 0, "node id 0 is reserved for 'none'");
  CONCLAVE_ASSERT(config_.election_ticks > config_.heartbeat_ticks, "election timeout must exceed heartbeat");
  conf_ = boot.conf;
  if (boot.snapshot) {
    offset_ = boot.snapshot->meta.index;
    offset_term_ = boot.snapshot->meta.term;
    conf_ = boot.snapshot->meta.conf;
    snapshot_ = boot.snapshot;
  }
  for (auto& e : boot.entries) {
    CONCLAVE_ASSERT(e.index == last_index() + 1, "bootstrap entries must be consecutive after the snapshot");
    log_.push_back(std::move(e));
  }
  term_ = boot.hard_state.term;
  vote_ = boot.hard_state.vote;
  committed_ = std::clamp(boot.hard_state.commit, offset_, last_index());
  applied_ = std::clamp(boot.applied, offset_, committed_);
  // Membership is applied at commit: replay committed config entries not covered by the snapshot.
  for (const auto& e : log_)
    if (e.index <= committed_ && e.type == EntryType::kConfig) apply_conf_change(e);
  unstable_from_ = last_index() + 1;
  persisted_ = last_index();
  last_hard_state_ = HardState{term_, vote_, committed_};
  become_follower(term_, 0);
}

uint64_t Core::next_random() {
  // splitmix64: tiny, deterministic, no global state.
  uint64_t z = (rng_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void Core::reset_randomized_timeout() {
  randomized_timeout_ = config_.election_ticks + static_cast<int>(next_random() % config_.election_ticks);
}

Term Core::term_at(Index i) const {
  if (i == offset_) return offset_term_;
  if (i < offset_ || i > last_index()) return 0;
  return log_[i - offset_ - 1].term;
}

std::vector<Entry> Core::entries(Index from, Index to) const {
  std::vector<Entry> out;
  for (Index i = std::max(from + 1, offset_ + 1); i <= std::min(to, last_index()); ++i) out.push_back(log_[i - offset_ - 1]);
  return out;
}

bool Core::log_up_to_date(Index index, Term term) const {
  Term last = term_at(last_index());
  return term > last || (term == last && index >= last_index());
}

void Core::send(Message m) {
  m.from = config_.id;
  if (m.type != MessageType::kPreVote && !(m.type == MessageType::kPreVoteResp && !m.reject)) m.term = term_;
  outbox_.push_back(std::move(m));
}

void Core::reset(Term term) {
  if (term_ != term) {
    term_ = term;
    vote_ = 0;
  }
  leader_ = 0;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  reset_randomized_timeout();
  transferee_ = 0;
  votes_granted_.clear();
  votes_rejected_.clear();
  pending_reads_.clear();
  reads_waiting_for_commit_.clear();
  progress_.clear();
}

// ---- role transitions ----

void Core::become_follower(Term term, NodeId leader) {
  reset(term);
  role_ = Role::kFollower;
  leader_ = leader;
}

void Core::become_pre_candidate() {
  CONCLAVE_ASSERT(role_ != Role::kLeader, "a leader cannot become a pre-candidate");
  // Pre-vote does not touch the term or the vote (thesis §9.6), so a partitioned node that keeps
  // failing pre-votes never disrupts the cluster when it returns.
  votes_granted_.clear();
  votes_rejected_.clear();
  role_ = Role::kPreCandidate;
  leader_ = 0;
  election_elapsed_ = 0;
  reset_randomized_timeout();
}

void Core::become_candidate() {
  CONCLAVE_ASSERT(role_ != Role::kLeader, "a leader cannot become a candidate");
  reset(term_ + 1);
  vote_ = config_.id;
  role_ = Role::kCandidate;
}

void Core::become_leader() {
  CONCLAVE_ASSERT(role_ != Role::kFollower, "a follower must win an election first");
  CONCLAVE_ASSERT(role_ != Role::kLeader, "already leader");
  reset(term_);
  role_ = Role::kLeader;
  leader_ = config_.id;
  for (NodeId id : conf_.voters) progress_[id] = Progress{0, last_index() + 1};
  for (NodeId id : conf_.learners) progress_[id] = Progress{0, last_index() + 1};
  progress_[config_.id].match = persisted_;
  progress_[config_.id].recent_active = true;
  // Uncommitted config entries from earlier terms still count as pending (one change at a time).
  pending_conf_index_ = last_index();
  // A no-op in the new term lets entries of earlier terms commit (§5.4.2) and enables ReadIndex.
  Entry noop;
  noop.type = EntryType::kNoop;
  append_local({std::move(noop)});
  broadcast_append(true);
}

void Core::start_election(Election how) {
  if (!promotable()) return;
  const bool transfer = how == Election::kTransfer;
  if (config_.pre_vote && how == Election::kNormal) {
    become_pre_candidate();
  } else {
    become_candidate();
  }
  bool pre = role_ == Role::kPreCandidate;
  votes_granted_.insert(config_.id);
  if (votes_granted_.size() >= quorum()) {
    if (pre) {
      become_candidate();
      votes_granted_.insert(config_.id);
      if (votes_granted_.size() >= quorum()) become_leader();
      else start_election(Election::kAfterPreVote);
    } else {
      become_leader();
    }
    return;
  }
  for (NodeId id : conf_.voters) {
    if (id == config_.id) continue;
    Message m;
    m.type = pre ? MessageType::kPreVote : MessageType::kVote;
    m.to = id;
    m.term = term_ + (pre ? 1 : 0);
    m.index = last_index();
    m.log_term = term_at(last_index());
    // Only a transfer overrides the peers' leader lease. The vote after a won pre-vote does not
    // (as etcd-io/raft): a peer that has heard from a leader since it granted the pre-vote ignores it.
    m.context = transfer ? 1 : 0;
    send(std::move(m));
  }
}

void Core::campaign() {
  if (role_ != Role::kLeader) start_election(Election::kNormal);
}

void Core::report_unreachable(NodeId peer) {
  if (role_ == Role::kLeader) {
    auto it = progress_.find(peer);
    if (it != progress_.end() && it->second.state == Progress::State::kReplicate) {
      it->second.state = Progress::State::kProbe;
      it->second.inflight.clear();
      it->second.probe_sent = false;
      it->second.next = it->second.match + 1;
    }
    return;
  }
  if (role_ == Role::kFollower && peer == leader_ && leader_ != 0) {
    leader_ = 0;  // no lease any more: vote requests from others are considered at once
    int jitter = 1 + static_cast<int>(next_random() % 2);
    election_elapsed_ = std::max(election_elapsed_, randomized_timeout_ - jitter);
  }
}

// ---- time ----

void Core::tick() {
  if (role_ == Role::kLeader) {
    ++heartbeat_elapsed_;
    ++election_elapsed_;
    if (transferee_ != 0 && ++transfer_elapsed_ >= config_.election_ticks) transferee_ = 0;  // give up
    for (auto& [id, pr] : progress_) {
      // A snapshot that was lost in transit is sent again after a while.
      if (pr.state == Progress::State::kSnapshot && ++pr.snapshot_elapsed >= 2 * config_.election_ticks) {
        pr.state = Progress::State::kProbe;
        pr.snapshot_elapsed = 0;
        pr.probe_sent = false;
        pr.next = pr.match + 1;
      }
    }
    if (election_elapsed_ >= config_.election_ticks) {
      election_elapsed_ = 0;
      if (config_.check_quorum) {
        size_t active = 0;
        for (auto& [id, pr] : progress_) {
          if (conf_.voters.count(id) && (pr.recent_active || id == config_.id)) ++active;
          if (id != config_.id) pr.recent_active = false;
        }
        if (active < quorum()) {
          // Lost contact with a majority: stop acting as leader (thesis §6.2).
          become_follower(term_, 0);
          return;
        }
      }
    }
    if (heartbeat_elapsed_ >= config_.heartbeat_ticks) {
      heartbeat_elapsed_ = 0;
      broadcast_heartbeat(0);
    }
    return;
  }
  ++election_elapsed_;
  if (promotable() && election_elapsed_ >= randomized_timeout_) {
    election_elapsed_ = 0;
    start_election(Election::kNormal);
  }
}

// ---- messages ----

void Core::step(const Message& m) {
  if (m.to != config_.id && m.to != 0) return;
  const bool vote_request = m.type == MessageType::kVote || m.type == MessageType::kPreVote;
  if (m.term > term_) {
    if (vote_request) {
      // Leader lease: ignore disruptive candidates while a leader is known to be alive (thesis §4.2.3),
      // unless the leader itself asked for the election (leadership transfer).
      bool in_lease = config_.check_quorum && leader_ != 0 && election_elapsed_ < config_.election_ticks;
      if (in_lease && m.context != 1) return;
    }
    if (m.type == MessageType::kPreVote) {
      // Never change term for a pre-vote.
    } else if (m.type == MessageType::kPreVoteResp && !m.reject) {
      // A granted pre-vote carries the future term; keep ours.
    } else if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat ||
               m.type == MessageType::kSnapshot) {
      become_follower(m.term, m.from);
    } else {
      become_follower(m.term, 0);
    }
  } else if (m.term < term_) {
    if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat) {
      // A stale leader (e.g. back from a partition): tell it our term so it steps down. Needed with
      // check-quorum/pre-vote, where its higher-term peers would otherwise never contact it.
      Message r;
      r.type = MessageType::kAppendResp;
      r.to = m.from;
      send(std::move(r));
    } else if (m.type == MessageType::kPreVote) {
      Message r;
      r.type = MessageType::kPreVoteResp;
      r.to = m.from;
      r.reject = true;
      send(std::move(r));
    }
    return;
  }

  if (vote_request) {
    handle_vote_request(m);
    return;
  }
  switch (role_) {
    case Role::kLeader: step_leader(m); break;
    case Role::kCandidate:
    case Role::kPreCandidate: step_candidate(m); break;
    case Role::kFollower: step_follower(m); break;
  }
}

void Core::handle_vote_request(const Message& m) {
  const bool pre = m.type == MessageType::kPreVote;
  bool can_vote = vote_ == m.from || (vote_ == 0 && leader_ == 0) || (pre && m.term > term_);
  Message r;
  r.type = pre ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  r.to = m.from;
  if (can_vote && log_up_to_date(m.index, m.log_term)) {
    r.term = m.term;  // pre-vote grants echo the candidate's future term
    r.reject = false;
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
  } else {
    r.reject = true;
  }
  outbox_.push_back(r);
  outbox_.back().from = config_.id;
  if (r.reject || !pre) outbox_.back().term = term_;
}

void Core::step_candidate(const Message& m) {
  const MessageType want = role_ == Role::kPreCandidate ? MessageType::kPreVoteResp : MessageType::kVoteResp;
  switch (m.type) {
    case MessageType::kAppend:
      become_follower(m.term, m.from);
      handle_append(m);
      return;
    case MessageType::kHeartbeat:
      become_follower(m.term, m.from);
      handle_heartbeat(m);
      return;
    case MessageType::kSnapshot:
      become_follower(m.term, m.from);
      handle_snapshot(m);
      return;
    default:
      break;
  }
  if (m.type != want) return;
  (m.reject ? votes_rejected_ : votes_granted_).insert(m.from);
  if (votes_granted_.size() >= quorum()) {
    if (role_ == Role::kPreCandidate) start_election(Election::kAfterPreVote);
    else become_leader();
  } else if (votes_rejected_.size() >= quorum()) {
    become_follower(term_, 0);
  }
}

void Core::step_follower(const Message& m) {
  switch (m.type) {
    case MessageType::kAppend:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_append(m);
      break;
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_heartbeat(m);
      break;
    case MessageType::kSnapshot:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_snapshot(m);
      break;
    case MessageType::kTimeoutNow:
      if (promotable()) start_election(Election::kTransfer);
      break;
    default:
      break;
  }
}

Index Core::conflict_hint(Index index, Term term) const {
  // Largest i <= index whose term is <= `term`: everything after it surely conflicts
  // (etcd-io/raft findConflictByTerm), so the leader can skip a whole term per round trip.
  Index i = std::min(index, last_index());
  while (i > offset_ && term_at(i) > term) --i;
  return i;
}

void Core::handle_append(const Message& m) {
  learn_replicated(m.replicated);
  Message r;
  r.type = MessageType::kAppendResp;
  r.to = m.from;
  if (m.index < committed_) {
    r.index = committed_;
    send(std::move(r));
    return;
  }
  if (m.index > last_index() || term_at(m.index) != m.log_term || (m.index < offset_)) {
    r.reject = true;
    r.index = m.index;
    r.reject_hint = conflict_hint(m.index, m.log_term);
    r.log_term = term_at(r.reject_hint);
    send(std::move(r));
    return;
  }
  // Skip entries we already have; truncate at the first conflict; append the rest.
  std::vector<Entry> fresh;
  for (const auto& e : m.entries) {
    if (e.index <= last_index()) {
      if (term_at(e.index) == e.term) continue;
      CONCLAVE_ASSERT(e.index > committed_, "a leader tried to overwrite a committed entry");
    }
    fresh.push_back(e);
  }
  if (!fresh.empty()) append_local(std::move(fresh));
  Index last_new = m.index + m.entries.size();
  committed_ = std::max(committed_, std::min(m.commit, last_new));
  r.index = last_new;
  send(std::move(r));
}

void Core::handle_heartbeat(const Message& m) {
  // The leader sends commit = min(our match, its commit), so this never exceeds a matching prefix.
  committed_ = std::max(committed_, std::min(m.commit, last_index()));
  learn_replicated(m.replicated);
  Message r;
  r.type = MessageType::kHeartbeatResp;
  r.to = m.from;
  r.context = m.context;
  send(std::move(r));
}

void Core::handle_snapshot(const Message& m) {
  CONCLAVE_ASSERT(m.snapshot.has_value(), "snapshot message without a snapshot");
  const Snapshot& s = *m.snapshot;
  Message r;
  r.type = MessageType::kAppendResp;
  r.to = m.from;
  if (s.meta.index <= committed_) {
    r.index = committed_;
  } else if (term_at(s.meta.index) == s.meta.term && s.meta.index <= last_index()) {
    committed_ = s.meta.index;  // we already hold the prefix: just fast-forward
    r.index = last_index();
  } else {
    // Replace the whole log and state with the snapshot.
    log_.clear();
    offset_ = s.meta.index;
    offset_term_ = s.meta.term;
    committed_ = applied_ = offset_;
    unstable_from_ = offset_ + 1;
    persisted_ = offset_;
    conf_ = s.meta.conf;
    snapshot_ = s;
    pending_install_ = s;
    r.index = offset_;
  }
  send(std::move(r));
}

void Core::step_leader(const Message& m) {
  auto it = progress_.find(m.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  switch (m.type) {
    case MessageType::kAppendResp:
      pr.recent_active = true;
      handle_append_response(m);
      break;
    case MessageType::kHeartbeatResp: {
      pr.recent_active = true;
      pr.probe_sent = false;
      if (pr.match < last_index()) {
        // No progress since the last heartbeat although entries are outstanding: appends were
        // probably lost. Fall back to probing from the known match (etcd relies on the
        // transport's unreachable reports for this; we have only the message stream).
        if (pr.state == Progress::State::kReplicate && pr.match == pr.match_at_heartbeat) {
          pr.state = Progress::State::kProbe;
          pr.inflight.clear();
          pr.next = pr.match + 1;
        }
        if (pr.state != Progress::State::kSnapshot) send_append(m.from, true);
      }
      pr.match_at_heartbeat = pr.match;
      if (m.context != 0) {
        for (auto& r : pending_reads_)
          if (r.context == m.context) r.acks.insert(m.from);
        release_reads();
      }
      break;
    }
    default:
      break;
  }
}

void Core::handle_append_response(const Message& m) {
  Progress& pr = progress_[m.from];
  if (m.reject) {
    if (pr.state == Progress::State::kReplicate) {
      if (m.index <= pr.match) return;  // stale
      pr.state = Progress::State::kProbe;
      pr.inflight.clear();
      pr.next = pr.match + 1;
    } else if (pr.state == Progress::State::kProbe) {
      if (pr.next - 1 != m.index) return;  // a rejection of something we no longer wait for
      Index hint = m.reject_hint;
      // Jump past every entry of the follower's conflicting term at once.
      if (m.log_term > 0) hint = std::min(hint, conflict_hint(hint, m.log_term));
      pr.next = std::max<Index>(std::min(m.index, hint + 1), pr.match + 1);
    } else {
      return;
    }
    pr.probe_sent = false;
    send_append(m.from, true);
    return;
  }
  bool advanced = m.index > pr.match;
  if (advanced) pr.match = m.index;
  if (advanced) update_replicated();
  pr.next = std::max(pr.next, m.index + 1);
  while (!pr.inflight.empty() && pr.inflight.front() <= m.index) pr.inflight.pop_front();
  if (pr.state == Progress::State::kProbe) {
    pr.state = Progress::State::kReplicate;
    pr.probe_sent = false;
    pr.next = pr.match + 1;
    pr.inflight.clear();
  } else if (pr.state == Progress::State::kSnapshot && pr.match >= pr.pending_snapshot) {
    pr.state = Progress::State::kReplicate;
    pr.next = pr.match + 1;
    pr.inflight.clear();
  }
  if (advanced && maybe_commit()) broadcast_append(true);
  else
    while (send_append(m.from, false)) {}
  // A follower that acknowledged after the commit index moved past what it was told (it was
  // probing when the leader broadcast the new commit) learns it now, not at the next heartbeat
  // (etcd-io/raft's CanBumpCommit).
  if (pr.state == Progress::State::kReplicate && std::min(committed_, pr.match) > pr.commit_sent)
    send_append(m.from, true);
  if (m.from == transferee_ && pr.match == last_index()) {
    Message t;
    t.type = MessageType::kTimeoutNow;
    t.to = m.from;
    send(std::move(t));
  }
}

// ---- replication ----

bool Core::send_append(NodeId to, bool send_if_empty) {
  if (to == config_.id) return false;
  Progress& pr = progress_[to];
  if (pr.state == Progress::State::kSnapshot) return false;
  if (pr.state == Progress::State::kProbe && pr.probe_sent) return false;
  if (pr.state == Progress::State::kReplicate && pr.inflight.size() >= config_.max_inflight) return false;
  if (pr.next <= offset_) {
    // The entries it needs were compacted: send the snapshot (the transport streams it in chunks).
    if (!snapshot_) return false;
    Message m;
    m.type = MessageType::kSnapshot;
    m.to = to;
    m.snapshot = snapshot_;
    pr.state = Progress::State::kSnapshot;
    pr.pending_snapshot = snapshot_->meta.index;
    pr.snapshot_elapsed = 0;
    send(std::move(m));
    return false;
  }
  if (pr.next <= released_command_) {
    // It needs commands whose data this node dropped (a member that is new, or lost its disk):
    // only a snapshot past them can bring it up, and the latest one is older.
    wants_snapshot_ = true;
    return false;
  }
  Index prev = pr.next - 1;
  Message m;
  m.type = MessageType::kAppend;
  m.to = to;
  m.index = prev;
  m.log_term = term_at(prev);
  m.commit = committed_;
  m.replicated = replicated_;
  uint64_t bytes = 0;
  for (Index i = pr.next; i <= last_index() && m.entries.size() < config_.max_entries_per_append; ++i) {
    const Entry& e = log_[i - offset_ - 1];
    if (!m.entries.empty() && bytes + e.data.size() > config_.max_bytes_per_append) break;
    bytes += e.data.size();
    m.entries.push_back(e);
  }
  if (m.entries.empty() && !send_if_empty) return false;
  Index last_sent = prev + m.entries.size();
  pr.commit_sent = std::max(pr.commit_sent, std::min(committed_, last_sent));
  if (pr.state == Progress::State::kReplicate) {
    pr.next = last_sent + 1;  // optimistic: pipeline the next batch right away
    pr.inflight.push_back(last_sent);
  } else {
    pr.probe_sent = true;
  }
  send(std::move(m));
  return !outbox_.back().entries.empty() && pr.state == Progress::State::kReplicate && last_sent < last_index();
}

void Core::send_heartbeat(NodeId to, uint64_t context) {
  Message m;
  m.type = MessageType::kHeartbeat;
  m.to = to;
  m.commit = std::min(progress_[to].match, committed_);
  progress_[to].commit_sent = std::max(progress_[to].commit_sent, m.commit);
  m.context = context;
  m.replicated = replicated_;
  send(std::move(m));
}

void Core::broadcast_append(bool send_if_empty) {
  for (auto& [id, pr] : progress_) {
    if (id == config_.id) continue;
    if (send_append(id, send_if_empty))
      while (send_append(id, false)) {}
  }
}

void Core::broadcast_heartbeat(uint64_t context) {
  for (auto& [id, pr] : progress_)
    if (id != config_.id) send_heartbeat(id, context);
}

void Core::append_local(std::vector<Entry> entries) {
  if (entries.empty()) return;
  Index first = entries.front().index;
  if (first == 0) {
    // New entries from this leader: number them. They reach our own match only once the driver
    // reports them durable (persisted()).
    Index first_new = last_index() + 1;
    for (auto& e : entries) {
      e.term = term_;
      e.index = last_index() + 1;
      log_.push_back(std::move(e));
    }
    unstable_from_ = std::min(unstable_from_, first_new);
    return;
  }
  CONCLAVE_ASSERT(first > committed_, "truncating committed entries");
  CONCLAVE_ASSERT(first <= last_index() + 1, "gap in appended entries");
  log_.resize(first - offset_ - 1);  // drop the conflicting suffix
  for (auto& e : entries) log_.push_back(std::move(e));
  unstable_from_ = std::min(unstable_from_, first);
  if (persisted_ >= first) persisted_ = first - 1;
}

bool Core::maybe_commit() {
  std::vector<Index> matches;
  for (NodeId id : conf_.voters) {
    auto it = progress_.find(id);
    matches.push_back(it == progress_.end() ? 0 : it->second.match);
  }
  if (matches.empty()) return false;
  std::sort(matches.begin(), matches.end(), std::greater<>());
  Index candidate = matches[quorum() - 1];
  // Only entries of the current term commit by counting (§5.4.2).
  if (candidate > committed_ && term_at(candidate) == term_) {
    committed_ = candidate;
    if (!reads_waiting_for_commit_.empty()) {
      auto waiting = std::move(reads_waiting_for_commit_);
      reads_waiting_for_commit_.clear();
      for (uint64_t ctx : waiting) (void)read_index(ctx);
    }
    release_reads();
    return true;
  }
  return false;
}

// ---- client-facing operations ----

Result<Index> Core::propose(Bytes data) {
  if (role_ != Role::kLeader) return make_error(Errc::kUnavailable, "not the leader");
  if (transferee_ != 0) return make_error(Errc::kUnavailable, "leadership transfer in progress");
  Entry e;
  e.type = EntryType::kCommand;
  e.data = std::move(data);
  append_local({std::move(e)});
  Index idx = last_index();
  if (conf_.voters.size() == 1 && persisted_ >= idx) maybe_commit();
  broadcast_append(false);
  return idx;
}

Status Core::propose_conf_change(const ConfChange& cc) {
  if (role_ != Role::kLeader) return make_error(Errc::kUnavailable, "not the leader");
  if (pending_conf_index_ > applied_) return make_error(Errc::kUnavailable, "another membership change is pending");
  if (cc.type == ConfChangeType::kRemove && !conf_.contains(cc.node))
    return make_error(Errc::kInvalid, "node is not a member");
  if (cc.type == ConfChangeType::kRemove && conf_.voters.count(cc.node) && conf_.voters.size() == 1)
    return make_error(Errc::kInvalid, "cannot remove the last voter");
  Entry e;
  e.type = EntryType::kConfig;
  e.data = encode_conf_change(cc);
  append_local({std::move(e)});
  pending_conf_index_ = last_index();
  broadcast_append(false);
  return Status::Ok();
}

Status Core::read_index(uint64_t context) {
  if (role_ != Role::kLeader) return make_error(Errc::kUnavailable, "not the leader");
  if (term_at(committed_) != term_) {
    // No entry of this term is committed yet, so committed_ may be stale (§6.4 step 1).
    reads_waiting_for_commit_.push_back(context);
    return Status::Ok();
  }
  pending_reads_.push_back({committed_, context, {config_.id}});
  if (conf_.voters.size() == 1) {
    release_reads();
  } else {
    broadcast_heartbeat(context);
  }
  return Status::Ok();
}

void Core::release_reads() {
  // Reads complete in order: a quorum ack of a later round also confirms earlier ones.
  size_t done = 0;
  for (size_t i = 0; i < pending_reads_.size(); ++i) {
    size_t voters_acked = 0;
    for (NodeId id : pending_reads_[i].acks) voters_acked += conf_.voters.count(id);
    if (voters_acked >= quorum()) done = i + 1;
  }
  for (size_t i = 0; i < done; ++i) read_states_.push_back({pending_reads_[i].index, pending_reads_[i].context});
  pending_reads_.erase(pending_reads_.begin(), pending_reads_.begin() + static_cast<long>(done));
}

Status Core::transfer_leadership(NodeId to) {
  if (role_ != Role::kLeader) return make_error(Errc::kUnavailable, "not the leader");
  if (to == config_.id) return Status::Ok();
  if (!conf_.voters.count(to)) return make_error(Errc::kInvalid, "transfer target is not a voter");
  transferee_ = to;
  transfer_elapsed_ = 0;
  if (progress_[to].match == last_index()) {
    Message t;
    t.type = MessageType::kTimeoutNow;
    t.to = to;
    send(std::move(t));
  } else {
    send_append(to, true);
  }
  return Status::Ok();
}

// ---- driver interface ----

void Core::persisted(Index index) {
  persisted_ = std::max(persisted_, std::min(index, last_index()));
  if (role_ == Role::kLeader) {
    Progress& self = progress_[config_.id];
    if (persisted_ > self.match) {
      self.match = persisted_;
      update_replicated();
      if (maybe_commit()) broadcast_append(true);
    }
  }
}

void Core::compact(Snapshot snap) {
  Index idx = snap.meta.index;
  CONCLAVE_ASSERT(idx <= applied_, "cannot compact past what is applied");
  if (idx <= offset_) return;
  Term t = term_at(idx);
  CONCLAVE_ASSERT(t != 0 && t == snap.meta.term, "snapshot term does not match the log");
  log_.erase(log_.begin(), log_.begin() + static_cast<long>(idx - offset_));
  offset_ = idx;
  offset_term_ = t;
  snapshot_ = std::move(snap);
  if (offset_ >= released_command_) wants_snapshot_ = false;
}

// ---- releasing what every member holds ----

void Core::update_replicated() {
  if (role_ != Role::kLeader) return;
  Index low = persisted_;
  auto lower = [&](NodeId id) {
    if (id == config_.id) return;
    auto it = progress_.find(id);
    low = std::min(low, it == progress_.end() ? 0 : it->second.match);
  };
  for (NodeId id : conf_.voters) lower(id);
  for (NodeId id : conf_.learners) lower(id);
  learn_replicated(low);
}

void Core::learn_replicated(Index index) {
  if (index <= replicated_) return;
  replicated_ = index;
  release_entries();
}

void Core::release_entries() {
  // Entries at or below both are committed, so every member's copy is this one; the driver has
  // its own copy of each for applying (Ready::committed) by the time applied_ passes it.
  const Index upto = std::min({applied_, replicated_, last_index()});
  for (Index i = std::max(released_, offset_) + 1; i <= upto; ++i) {
    Entry& e = log_[i - offset_ - 1];
    if (e.type == EntryType::kCommand) {
      Bytes().swap(e.data);
      released_command_ = i;
    }
  }
  released_ = std::max(released_, upto);
}

void Core::apply_conf_change(const Entry& e) {
  ConfChange cc{};
  if (!decode_conf_change(e.data, &cc)) return;
  switch (cc.type) {
    case ConfChangeType::kAddVoter:
      conf_.learners.erase(cc.node);
      conf_.voters.insert(cc.node);
      break;
    case ConfChangeType::kAddLearner:
      if (!conf_.voters.count(cc.node)) conf_.learners.insert(cc.node);
      break;
    case ConfChangeType::kRemove:
      conf_.voters.erase(cc.node);
      conf_.learners.erase(cc.node);
      break;
  }
  if (role_ == Role::kLeader) {
    if (conf_.contains(cc.node) && !progress_.count(cc.node)) progress_[cc.node] = Progress{0, last_index() + 1};
    if (!conf_.contains(cc.node)) progress_.erase(cc.node);
    update_replicated();
    if (!promotable()) {
      become_follower(term_, 0);  // removed ourselves: step down
      return;
    }
    if (maybe_commit()) broadcast_append(true);
  }
}

bool Core::has_ready() const {
  return HardState{term_, vote_, committed_} != last_hard_state_ || unstable_from_ <= last_index() ||
         pending_install_.has_value() || !outbox_.empty() || applied_ < committed_ || !read_states_.empty();
}

Ready Core::ready() {
  Ready rd;
  HardState hs{term_, vote_, committed_};
  if (hs != last_hard_state_) rd.hard_state = hs;
  if (pending_install_) rd.snapshot = pending_install_;
  for (Index i = std::max(unstable_from_, offset_ + 1); i <= last_index(); ++i) rd.entries.push_back(log_[i - offset_ - 1]);
  rd.messages = std::move(outbox_);
  outbox_.clear();
  for (Index i = std::max(applied_, offset_) + 1; i <= committed_; ++i) rd.committed.push_back(log_[i - offset_ - 1]);
  rd.read_states = std::move(read_states_);
  read_states_.clear();
  return rd;
}

void Core::advance(const Ready& rd) {
  if (rd.hard_state) last_hard_state_ = *rd.hard_state;
  if (rd.snapshot) pending_install_.reset();
  if (!rd.entries.empty()) unstable_from_ = std::max(unstable_from_, rd.entries.back().index + 1);
  for (const auto& e : rd.committed) {
    if (e.index <= applied_) continue;
    applied_ = e.index;
    if (e.type == EntryType::kConfig) apply_conf_change(e);
  }
  release_entries();
}

// ---- small codecs and names ----

Bytes encode_conf_change(const ConfChange& cc) {
  Bytes b;
  Writer w(b);
  w.u8(static_cast<uint8_t>(cc.type));
  w.u64(cc.node);
  w.blob(cc.address);
  if (!cc.context.empty()) w.blob(cc.context);  // absent from entries written before it existed
  return b;
}

bool decode_conf_change(std::string_view bytes, ConfChange* out) {
  Reader r(bytes);
  uint8_t t = r.u8();
  out->node = r.u64();
  out->address = std::string(r.blob());
  out->context.clear();
  if (r.ok() && !r.at_end()) out->context = std::string(r.blob());
  if (!r.ok() || !r.at_end() || t < 1 || t > 3) return false;
  out->type = static_cast<ConfChangeType>(t);
  return true;
}

const char* message_type_name(MessageType t) {
  switch (t) {
    case MessageType::kPreVote: return "PreVote";
    case MessageType::kPreVoteResp: return "PreVoteResp";
    case MessageType::kVote: return "Vote";
    case MessageType::kVoteResp: return "VoteResp";
    case MessageType::kAppend: return "Append";
    case MessageType::kAppendResp: return "AppendResp";
    case MessageType::kHeartbeat: return "Heartbeat";
    case MessageType::kHeartbeatResp: return "HeartbeatResp";
    case MessageType::kSnapshot: return "Snapshot";
    case MessageType::kTimeoutNow: return "TimeoutNow";
  }
  return "?";
}

const char* role_name(Role r) {
  switch (r) {
    case Role::kFollower: return "follower";
    case Role::kPreCandidate: return "pre-candidate";
    case Role::kCandidate: return "candidate";
    case Role::kLeader: return "leader";
  }
  return "?";
}

}  // namespace conclave::raft
