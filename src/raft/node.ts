// RaftNode: the synchronous driver API around the state machine. Inputs are
// tick/step/propose/...; the output is a Ready the driver handles in order
// (persist, send, apply) before calling advance(). One Ready is outstanding at
// a time; everything requested in between is batched into the next one.

import { MAX_APPLY_BYTES_PER_READY } from "./config";
import { applyConfChange, decodeConfChange, encodeConfChange } from "./confchange";
import * as requests from "./leader-requests";
import { Raft } from "./raft";
import { flushBroadcast, reportUnreachable } from "./replication";
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type LostLog,
  type Message,
  type NodeId,
  type PeerProgress,
  type RaftConfig,
  type RaftStatus,
  type Ready,
  Role,
  type SoftState,
} from "./types";
import { assert, copyConfState, EMPTY_BYTES } from "./util";

interface Outstanding {
  lastEntry: { index: number; term: number } | undefined;
  snapshotIndex: number | undefined;
  appliedIndex: number | undefined;
  committedEntries: Entry[];
  confState: ConfState | undefined;
  /** The driver reported this Ready's committed entries applied before advance() (see appliedTo). */
  committedApplied: boolean;
}

export class RaftNode {
  private readonly raft: Raft;
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private outstanding: Outstanding | undefined = undefined;

  constructor(config: RaftConfig) {
    const { hardState, confState } = config.storage.initialState();
    this.raft = new Raft(config, hardState, copyConfState(confState));
    this.prevHardState = { ...hardState };
    this.prevSoftState = { leader: this.raft.lead, role: this.raft.role };
    this.maybeBootstrap(config);
  }

  /**
   * A fresh storage with a non-empty ConfState is a new cluster: write one
   * committed ConfChange entry per member at term 1 (voters, then learners,
   * each sorted) so that a joiner replaying the log from index 1 reaches the
   * same membership. Every bootstrapping member must be given the same list.
   */
  private maybeBootstrap(config: RaftConfig): void {
    const storage = config.storage;
    const cs = this.raft.confState;
    const fresh = this.raft.term === 0 && storage.lastIndex() === 0 && storage.firstIndex() === 1;
    if (!fresh || cs.voters.length === 0) return;
    const changes: ConfChange[] = [
      ...[...cs.voters].sort().map((nodeId) => ({ type: ConfChangeType.AddVoter, nodeId, context: EMPTY_BYTES })),
      ...[...cs.learners].sort().map((nodeId) => ({ type: ConfChangeType.AddLearner, nodeId, context: EMPTY_BYTES })),
    ];
    const entries: Entry[] = changes.map((cc, i) => ({ term: 1, index: i + 1, type: EntryType.ConfChange, data: encodeConfChange(cc) }));
    this.raft.log.append(entries);
    this.raft.log.commitTo(entries.length);
    this.raft.becomeFollower(1, "");
    this.raft.syncProgressWithConfState();
  }

  // ---- inputs ----

  tick(): void {
    this.raft.tick();
  }

  step(msg: Message): void {
    if (msg.to !== this.raft.id) return;
    this.raft.step(msg);
  }

  propose(data: Uint8Array): { index: number; term: number } {
    return requests.propose(this.raft, data);
  }

  proposeConfChange(cc: ConfChange): { index: number; term: number } {
    return requests.proposeConfChange(this.raft, cc);
  }

  readIndex(context: Uint8Array): void {
    requests.readIndex(this.raft, context);
  }

  transferLeadership(to: NodeId): void {
    requests.transferLeadership(this.raft, to);
  }

  campaign(): void {
    this.raft.campaign(false);
  }

  reportUnreachable(id: NodeId): void {
    reportUnreachable(this.raft, id);
  }

  // ---- output ----

  /** Whether ready() has something new. False while a Ready is outstanding (call advance() first). */
  hasReady(): boolean {
    if (this.outstanding) return false;
    const r = this.raft;
    return (
      r.needsBroadcast ||
      r.needsCommitBroadcast ||
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.snapshotChunks.length > 0 ||
      r.log.unstable.hasNextEntries() ||
      r.log.unstable.nextSnapshot() !== undefined ||
      r.log.hasNextCommittedEntries() ||
      this.hardStateChanged() ||
      this.softStateChanged()
    );
  }

  ready(): Ready {
    assert(this.outstanding === undefined, "ready() called again before advance()");
    const r = this.raft;
    if (r.role === Role.Leader) flushBroadcast(r);
    else r.needsBroadcast = r.needsCommitBroadcast = false;
    const log = r.log;
    const entries = log.unstable.nextEntries();
    const snapshot = log.unstable.nextSnapshot();
    const committedEntries = log.nextCommittedEntries(MAX_APPLY_BYTES_PER_READY);
    const rd: Ready = {
      entries,
      snapshotChunks: r.snapshotChunks,
      committedEntries,
      messages: r.msgs,
      readStates: r.readStates,
      mustSync: false,
    };
    if (snapshot) rd.snapshot = snapshot;
    r.snapshotChunks = [];
    r.msgs = [];
    r.readStates = [];
    if (this.softStateChanged()) {
      this.prevSoftState = { leader: r.lead, role: r.role };
      rd.softState = { ...this.prevSoftState };
    }
    const hs = r.hardState();
    const termOrVoteChanged = hs.term !== this.prevHardState.term || hs.vote !== this.prevHardState.vote;
    if (this.hardStateChanged()) {
      rd.hardState = hs;
      this.prevHardState = { ...hs };
    }
    rd.mustSync = termOrVoteChanged || entries.length > 0 || snapshot !== undefined || rd.snapshotChunks.length > 0;
    const confState = this.confStateAfter(snapshot?.confState, committedEntries);
    if (confState) rd.confState = copyConfState(confState);

    const lastEntry = entries[entries.length - 1];
    const lastCommitted = committedEntries[committedEntries.length - 1];
    log.unstable.acceptInProgress();
    const appliedIndex = lastCommitted ? lastCommitted.index : snapshot ? snapshot.index : undefined;
    if (lastCommitted) log.applying = lastCommitted.index;
    this.outstanding = {
      lastEntry: lastEntry ? { index: lastEntry.index, term: lastEntry.term } : undefined,
      snapshotIndex: snapshot?.index,
      appliedIndex,
      committedEntries,
      confState,
      committedApplied: committedEntries.length === 0 && snapshot === undefined,
    };
    return rd;
  }

  /** The membership after this Ready is applied, or undefined when unchanged. */
  private confStateAfter(snapshotConf: ConfState | undefined, committed: Entry[]): ConfState | undefined {
    let cs = snapshotConf ?? this.raft.confState;
    let changed = snapshotConf !== undefined;
    for (const e of committed) {
      if (e.type !== EntryType.ConfChange) continue;
      const next = applyConfChange(cs, decodeConfChange(e.data));
      if (next !== cs) {
        cs = next;
        changed = true;
      }
    }
    return changed ? cs : undefined;
  }

  advance(): void {
    const out = this.outstanding;
    assert(out !== undefined, "advance() called without an outstanding Ready");
    this.outstanding = undefined;
    const r = this.raft;
    if (out.snapshotIndex !== undefined) r.log.unstable.stableSnapshotTo(out.snapshotIndex);
    if (out.lastEntry) r.log.unstable.stableTo(out.lastEntry.index, out.lastEntry.term);
    if (out.appliedIndex !== undefined) r.log.appliedTo(out.appliedIndex);
    this.releaseUncommittedBytes(out.committedEntries);
    if (out.confState) r.applyConfState(out.confState);
  }

  /**
   * The highest index both committed and durable on this member: entries of
   * the outstanding Ready are not durable until advance(). A committed entry
   * the member itself holds durably may be applied at once, whatever is
   * still in flight to its disk: commitment counts this member's in-flight
   * entries as held (Raft §10.2.1 lets a leader send before its fsync), so
   * only the durable ones are known to sit on a majority's disks.
   */
  durableCommitIndex(): number {
    const log = this.raft.log;
    return Math.min(log.committed, log.unstable.offset - 1);
  }

  /**
   * Whether the outstanding Ready's committed entries may be applied before
   * its own fsync: all of them are durable here already (they came from
   * earlier Readies, as a leader's do whenever followers acknowledged them)
   * and none changes membership (that takes effect in advance()). The driver
   * then applies them and calls appliedTo(last index).
   */
  committedDurableBeforeSync(rd: Ready): boolean {
    const entries = rd.committedEntries;
    if (entries.length === 0 || rd.confState !== undefined) return false;
    if (entries[entries.length - 1]!.index > this.durableCommitIndex()) return false;
    return !entries.some((e) => e.type === EntryType.ConfChange);
  }

  /**
   * Committed entries the driver may apply while a Ready is outstanding,
   * typically while its fsync runs: committed, durable here (see
   * durableCommitIndex), not handed out before, in index order. Empty until
   * the outstanding Ready's own committed entries were reported applied
   * (appliedTo), so the driver applies in index order; it stops before a
   * membership change, which takes effect in advance() and so waits for a
   * Ready. The driver applies them and then calls appliedTo(last index).
   * Without this a leader answered a write only after the fsync of the
   * Ready after the one that sent it: two disk waits instead of one.
   */
  durableCommittedEntries(): Entry[] {
    const out = this.outstanding;
    if (out !== undefined && !out.committedApplied) return [];
    const log = this.raft.log;
    if (!log.hasNextCommittedEntries()) return [];
    const upTo = this.durableCommitIndex();
    if (upTo <= log.applying) return [];
    const entries = log.entries(log.applying + 1, upTo + 1, MAX_APPLY_BYTES_PER_READY);
    assert(entries !== undefined, `committed entries from ${log.applying + 1} were compacted before being applied`);
    const confChangeAt = entries.findIndex((e) => e.type === EntryType.ConfChange);
    if (confChangeAt >= 0) entries.length = confChangeAt;
    if (entries.length === 0) return [];
    log.applying = entries[entries.length - 1]!.index;
    this.releaseUncommittedBytes(entries);
    return entries;
  }

  /**
   * The driver applied committed entries up to index before advance(): the
   * outstanding Ready's own (all of them, and only when it carries no
   * membership change), or what durableCommittedEntries handed out.
   */
  appliedTo(index: number): void {
    const out = this.outstanding;
    if (out !== undefined && out.appliedIndex !== undefined && index >= out.appliedIndex) {
      assert(out.confState === undefined, "a Ready that changes membership is applied in advance()");
      out.committedApplied = true;
    }
    assert(index <= this.raft.log.applying, `applied ${index} was never handed out (handed out up to ${this.raft.log.applying})`);
    this.raft.log.appliedTo(index);
  }

  private releaseUncommittedBytes(entries: Entry[]): void {
    const r = this.raft;
    if (r.role !== Role.Leader || r.uncommittedBytes <= 0) return;
    let bytes = 0;
    for (const e of entries) bytes += e.data.length;
    r.uncommittedBytes = Math.max(0, r.uncommittedBytes - bytes);
  }

  // ---- introspection ----

  /** The current term: what every API response carries, without building a whole status(). */
  term(): number {
    return this.raft.term;
  }

  /** Set once a leader showed that this member lost entries it had acknowledged (it then never votes). */
  lostLog(): LostLog | undefined {
    return this.raft.lostLog;
  }

  status(): RaftStatus {
    const r = this.raft;
    const status: RaftStatus = {
      id: r.id,
      role: r.role,
      term: r.term,
      vote: r.vote,
      leader: r.lead,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      confState: copyConfState(r.confState),
      leadTransferee: r.leadTransferee,
    };
    if (r.lostLog) status.lostLog = { ...r.lostLog };
    if (r.role === Role.Leader) {
      const progress: Record<NodeId, PeerProgress> = {};
      for (const [id, pr] of r.prs) {
        progress[id] = { match: pr.match, next: pr.next, state: pr.state, isLearner: pr.isLearner, recentActive: pr.recentActive };
      }
      status.progress = progress;
    }
    return status;
  }

  private hardStateChanged(): boolean {
    const p = this.prevHardState;
    const r = this.raft;
    return p.term !== r.term || p.vote !== r.vote || p.commit !== r.log.committed;
  }

  private softStateChanged(): boolean {
    return this.prevSoftState.leader !== this.raft.lead || this.prevSoftState.role !== this.raft.role;
  }
}
