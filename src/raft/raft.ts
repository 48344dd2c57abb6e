// The Raft state machine: terms, roles, elections (with pre-vote and
// check-quorum) and the dispatch of each message to its role's handler. The
// leader's replication lives in replication.ts, the follower's log handling in
// follower.ts, membership and reads in leader-requests.ts. Pure: no I/O, no
// clock; time is tick() and randomness the injected Prng.

import { applyConfChange, decodeConfChange } from "./confchange";
import { type ResolvedConfig, resolveConfig } from "./config";
import { handleAppend, handleHeartbeat, handleSnapshot } from "./follower";
import { handleReadIndexRequest, handleTransferLeader, releasePendingReadsIfReady } from "./leader-requests";
import { RaftLog } from "./log";
import { Progress } from "./progress";
import { hasQuorum, voteResult } from "./quorum";
import { ReadOnly } from "./read-only";
import {
  bcastAppend,
  bcastHeartbeat,
  handleAppendResponse,
  handleHeartbeatResponse,
  handleSnapshotResponse,
  maybeCommit,
  tickSnapshotResends,
} from "./replication";
import {
  CAMPAIGN_TRANSFER,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type LostLog,
  type Message,
  MessageType,
  NONE,
  type NodeId,
  type Prng,
  type RaftConfig,
  type ReadState,
  Role,
  type SnapshotChunk,
  type SnapshotMeta,
} from "./types";
import { assert, bytesEqual, confStateEqual, EMPTY_BYTES, newMessage } from "./util";

/** Entry bytes read per page while looking for unapplied membership changes. */
const UNAPPLIED_SCAN_BYTES = 1024 * 1024;

/** An incoming snapshot being staged chunk by chunk (follower side). */
export interface IncomingSnapshot {
  meta: SnapshotMeta;
  nextOffset: number;
}

export class Raft {
  readonly id: NodeId;
  readonly cfg: ResolvedConfig;
  readonly log: RaftLog;
  private readonly prng: Prng;

  term: number;
  vote: NodeId;
  lead: NodeId = NONE;
  role: Role = Role.Follower;

  /** Membership as of the applied index. */
  confState: ConfState;
  /** Every member's progress; meaningful on the leader only. */
  prs = new Map<NodeId, Progress>();
  votes = new Map<NodeId, boolean>();

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;

  leadTransferee: NodeId = NONE;
  /** Index of the newest ConfChange entry the leader appended. */
  pendingConfIndex = 0;
  uncommittedBytes = 0;
  readonly readOnly = new ReadOnly();
  /** ReadIndex requests held until this leader commits an entry of its term. */
  readsBeforeFirstCommit: Message[] = [];
  incomingSnapshot: IncomingSnapshot | undefined = undefined;
  /** A proposal was appended; replicate it when the Ready is built (batching). */
  needsBroadcast = false;
  /** The commit index moved; tell followers when the Ready is built (one Append per follower, not per ack). */
  needsCommitBroadcast = false;
  /** Entries this member acknowledged are gone: it never votes or campaigns again (LostLog). */
  lostLog: LostLog | undefined = undefined;

  // Outputs collected for the next Ready.
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  snapshotChunks: SnapshotChunk[] = [];

  constructor(config: RaftConfig, hardState: HardState, confState: ConfState) {
    this.id = config.id;
    this.cfg = resolveConfig(config);
    this.prng = config.prng;
    this.log = new RaftLog(config.storage, hardState.commit, config.applied ?? 0);
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.confState = confState;
    this.syncProgressWithConfState();
    this.becomeFollower(this.term, NONE);
  }

  // ---- membership views ----

  isVoter(id: NodeId): boolean {
    return this.confState.voters.includes(id);
  }

  /** Only voters campaign; learners and joiners (empty ConfState) follow. */
  promotable(): boolean {
    return this.isVoter(this.id) && this.lostLog === undefined;
  }

  // ---- outgoing messages ----

  send(m: Message): void {
    assert(m.to !== this.id, `a node must not send ${MessageType[m.type]} to itself`);
    this.msgs.push(m);
  }

  message(type: MessageType, to: NodeId, term = this.term): Message {
    return newMessage(type, this.id, to, term);
  }

  // ---- role transitions ----

  private resetRandomizedElectionTimeout(): void {
    const base = this.cfg.electionTicks;
    this.randomizedElectionTimeout = base + this.prng.nextInt(base);
    assert(
      this.randomizedElectionTimeout >= base && this.randomizedElectionTimeout < 2 * base,
      `Prng.nextInt(${base}) returned a value outside [0, ${base})`,
    );
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = NONE;
    this.votes.clear();
    this.readOnly.clear();
    this.readsBeforeFirstCommit = [];
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.needsBroadcast = false;
    this.needsCommitBroadcast = false;
    const last = this.log.lastIndex();
    for (const [id, pr] of this.prs) {
      this.prs.set(id, this.newProgress(id, pr.isLearner, last));
    }
  }

  private newProgress(id: NodeId, isLearner: boolean, lastIndex: number): Progress {
    const pr = new Progress(id, lastIndex + 1, this.cfg.maxInflightAppends, isLearner);
    if (id === this.id) pr.match = lastIndex;
    return pr;
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = Role.Follower;
  }

  private becomePreCandidate(): void {
    assert(this.role !== Role.Leader, "a leader cannot become a pre-candidate");
    // Term and vote stay: pre-vote never changes anyone's term.
    this.votes.clear();
    this.lead = NONE;
    this.role = Role.PreCandidate;
  }

  private becomeCandidate(): void {
    assert(this.role !== Role.Leader, "a leader cannot become a candidate");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  private becomeLeader(): void {
    assert(this.role === Role.Candidate, `only a candidate becomes leader (role ${Role[this.role]})`);
    this.reset(this.term);
    this.lead = this.id;
    this.role = Role.Leader;
    this.prs.get(this.id)?.becomeReplicate();
    // Changes already in the log must apply before a new one may be proposed.
    this.pendingConfIndex = this.log.lastIndex();
    // §5.4.2: a no-op of the new term lets earlier entries commit through it.
    this.appendEntries([{ term: this.term, index: 0, type: EntryType.Normal, data: EMPTY_BYTES }]);
    bcastAppend(this);
  }

  /** Leader: append new entries of this term; returns the new last index. */
  appendEntries(entries: Entry[]): number {
    let index = this.log.lastIndex();
    for (const e of entries) {
      e.term = this.term;
      e.index = ++index;
    }
    const last = this.log.append(entries);
    this.prs.get(this.id)?.maybeUpdate(last);
    maybeCommit(this);
    return last;
  }

  // ---- time ----

  tick(): void {
    if (this.role === Role.Leader) this.tickLeader();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, NONE);
        return;
      }
      // A transfer that has not finished within an election timeout is abandoned.
      if (this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      bcastHeartbeat(this);
    }
    tickSnapshotResends(this);
  }

  /** Check-quorum: did a quorum of voters answer within the last election timeout? Resets the window. */
  private quorumActive(): boolean {
    const active = hasQuorum(this.confState.voters, (id) => id === this.id || this.prs.get(id)?.recentActive === true);
    for (const [id, pr] of this.prs) pr.recentActive = id === this.id;
    return active;
  }

  // ---- elections ----

  campaign(transfer: boolean): void {
    if (!this.promotable() || this.role === Role.Leader) return;
    // A restarted node starts from the membership of its snapshot; a change
    // committed after it is not in effect until applied again. Campaigning
    // before could win with a quorum of an old membership (a lone former
    // single voter elects itself at once) next to the real leader.
    if (this.membershipChangesWhenApplied()) return;
    if (this.cfg.preVote && !transfer) {
      this.becomePreCandidate();
      this.requestVotes(MessageType.PreVote, this.term + 1, false);
    } else {
      this.becomeCandidate();
      this.requestVotes(MessageType.Vote, this.term, transfer);
    }
  }

  /**
   * Whether applying the committed entries not applied yet changes the
   * membership. (A bootstrap's entries re-add the members it starts with:
   * no change, so a new cluster need not wait for them.)
   */
  private membershipChangesWhenApplied(): boolean {
    let after = this.confState;
    const hi = this.log.committed + 1;
    for (let lo = this.log.applied + 1; lo < hi; ) {
      const page = this.log.entries(lo, hi, UNAPPLIED_SCAN_BYTES);
      if (page === undefined || page.length === 0) break;
      for (const entry of page) if (entry.type === EntryType.ConfChange) after = applyConfChange(after, decodeConfChange(entry.data));
      lo = page[page.length - 1]!.index + 1;
    }
    return !confStateEqual(after, this.confState);
  }

  private requestVotes(type: MessageType, term: number, transfer: boolean): void {
    this.votes.set(this.id, true);
    if (this.tallyVotes()) return;
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.confState.voters) {
      if (id === this.id) continue;
      const m = this.message(type, id, term);
      m.index = lastIndex;
      m.logTerm = lastTerm;
      if (transfer) m.context = CAMPAIGN_TRANSFER;
      this.send(m);
    }
  }

  /** Act on the votes so far; returns true when the election is decided. */
  tallyVotes(): boolean {
    const result = voteResult(this.confState.voters, this.votes);
    if (result === "won") {
      if (this.role === Role.PreCandidate) {
        this.becomeCandidate();
        this.requestVotes(MessageType.Vote, this.term, false);
      } else {
        this.becomeLeader();
      }
      return true;
    }
    if (result === "lost") {
      this.becomeFollower(this.term, NONE);
      return true;
    }
    return false;
  }

  private handleVoteRequest(m: Message): void {
    const responseType = m.type === MessageType.Vote ? MessageType.VoteResponse : MessageType.PreVoteResponse;
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.lead === NONE) ||
      (m.type === MessageType.PreVote && m.term > this.term);
    if (canVote && this.lostLog === undefined && this.log.isUpToDate(m.index, m.logTerm) && !this.refusesRivalPreCandidate(m)) {
      // A granted pre-vote answers in the term it was asked about.
      this.send(this.message(responseType, m.from, m.term));
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      const reply = this.message(responseType, m.from);
      reply.reject = true;
      this.send(reply);
    }
  }

  /**
   * Two members whose timers fire within one message delay of each other
   * would grant each other's pre-vote, both stand, and split the real vote:
   * another whole election timeout. A pre-vote binds nobody, so refusing one
   * is always safe: in the tick it started campaigning, a pre-candidate
   * refuses a rival with an equal log and a higher id, and the rival grants
   * it. (Only in that tick: a pre-candidate that cannot win on its own must
   * not block a rival that could.)
   */
  private refusesRivalPreCandidate(m: Message): boolean {
    return (
      m.type === MessageType.PreVote &&
      this.role === Role.PreCandidate &&
      this.electionElapsed === 0 &&
      m.from > this.id &&
      m.index === this.log.lastIndex() &&
      m.logTerm === this.log.lastTerm()
    );
  }

  private handleVoteResponse(m: Message): void {
    const expected = this.role === Role.PreCandidate ? MessageType.PreVoteResponse : MessageType.VoteResponse;
    if (m.type !== expected) return;
    this.votes.set(m.from, !m.reject);
    this.tallyVotes();
  }

  // ---- messages ----

  step(m: Message): void {
    if (!this.stepTerm(m)) return;
    switch (m.type) {
      case MessageType.Vote:
      case MessageType.PreVote:
        this.handleVoteRequest(m);
        return;
      default:
        break;
    }
    switch (this.role) {
      case Role.Leader:
        this.stepLeader(m);
        return;
      case Role.PreCandidate:
      case Role.Candidate:
        this.stepCandidate(m);
        return;
      case Role.Follower:
        this.stepFollower(m);
        return;
    }
  }

  /** The term rules every message passes first; false means "drop it". */
  private stepTerm(m: Message): boolean {
    if (m.term > this.term) {
      const isVoteRequest = m.type === MessageType.Vote || m.type === MessageType.PreVote;
      if (isVoteRequest) {
        const force = bytesEqual(m.context, CAMPAIGN_TRANSFER);
        const inLease = this.cfg.checkQuorum && this.lead !== NONE && this.electionElapsed < this.cfg.electionTicks;
        // A node that hears from a live leader ignores disruptive campaigns.
        if (!force && inLease) return false;
      }
      if (m.type === MessageType.PreVote) return true;
      if (m.type === MessageType.PreVoteResponse && !m.reject) return true;
      const fromLeader = m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.Snapshot;
      this.becomeFollower(m.term, fromLeader ? m.from : NONE);
      return true;
    }
    if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === MessageType.Append || m.type === MessageType.Heartbeat)) {
        // Tell a stale leader about the newer term so it steps down.
        this.send(this.message(MessageType.AppendResponse, m.from));
      } else if (m.type === MessageType.PreVote) {
        const reply = this.message(MessageType.PreVoteResponse, m.from);
        reply.reject = true;
        this.send(reply);
      }
      return false;
    }
    return true;
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.AppendResponse:
        handleAppendResponse(this, m);
        return;
      case MessageType.HeartbeatResponse:
        handleHeartbeatResponse(this, m);
        return;
      case MessageType.SnapshotResponse:
        handleSnapshotResponse(this, m);
        return;
      case MessageType.ReadIndex:
        handleReadIndexRequest(this, m.from, m.context);
        return;
      case MessageType.TransferLeader:
        handleTransferLeader(this, new TextDecoder().decode(m.context));
        return;
      default:
        return;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
      case MessageType.Heartbeat:
      case MessageType.Snapshot:
        // A leader of this term exists: follow it.
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case MessageType.VoteResponse:
      case MessageType.PreVoteResponse:
        this.handleVoteResponse(m);
        return;
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
        this.heardFromLeader(m.from);
        handleAppend(this, m);
        return;
      case MessageType.Heartbeat:
        this.heardFromLeader(m.from);
        handleHeartbeat(this, m);
        return;
      case MessageType.Snapshot:
        this.heardFromLeader(m.from);
        handleSnapshot(this, m);
        return;
      case MessageType.TimeoutNow:
        // The leader handed over: campaign now, bypassing pre-vote and leases.
        this.campaign(true);
        return;
      case MessageType.ReadIndexResponse:
        this.readStates.push({ index: m.index, context: m.context });
        return;
      case MessageType.ReadIndex:
      case MessageType.TransferLeader:
        if (this.lead !== NONE && this.lead !== m.from) {
          const forward = this.message(m.type, this.lead);
          forward.context = m.context;
          this.send(forward);
        }
        return;
      default:
        return;
    }
  }

  private heardFromLeader(from: NodeId): void {
    this.electionElapsed = 0;
    this.lead = from;
  }

  // ---- membership ----

  /** Make prs match confState (new members start probing from the end of the log). */
  syncProgressWithConfState(): void {
    const members = new Set([...this.confState.voters, ...this.confState.learners]);
    for (const id of [...this.prs.keys()]) if (!members.has(id)) this.prs.delete(id);
    const last = this.log.lastIndex();
    for (const id of members) {
      const isLearner = this.confState.learners.includes(id);
      const pr = this.prs.get(id);
      if (pr) pr.isLearner = isLearner;
      else this.prs.set(id, this.newProgress(id, isLearner, last));
    }
  }

  /** The application applied entries that changed membership: switch to the new ConfState. */
  applyConfState(cs: ConfState): void {
    this.confState = cs;
    this.syncProgressWithConfState();
    if (this.role === Role.Leader) {
      if (!this.isVoter(this.id)) {
        this.stepDownRemovedLeader();
        return;
      }
      if (this.leadTransferee !== NONE && !this.isVoter(this.leadTransferee)) this.leadTransferee = NONE;
      if (maybeCommit(this)) this.needsCommitBroadcast = true;
      releasePendingReadsIfReady(this);
    } else if (this.role === Role.Candidate || this.role === Role.PreCandidate) {
      if (!this.promotable()) this.becomeFollower(this.term, NONE);
      else this.tallyVotes();
    }
  }

  /** A leader no longer in the voter set tells the others the commit index, hands over if it can, and steps down. */
  private stepDownRemovedLeader(): void {
    bcastHeartbeat(this);
    const last = this.log.lastIndex();
    const successor = this.confState.voters.find((id) => this.prs.get(id)?.match === last);
    if (successor !== undefined) this.send(this.message(MessageType.TimeoutNow, successor));
    this.becomeFollower(this.term, NONE);
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }
}
