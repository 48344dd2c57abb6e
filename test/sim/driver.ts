// One simulated dkv process: the raft core, its durable storage (MemoryStorage
// + the shadow log the checkers read) and its durable KV state machine. It
// follows the Ready contract exactly — persist, send, apply and answer reads,
// advance — and can crash at any point of it, losing everything not persisted.

import {
  type ConfState,
  decodeConfChange,
  type Entry,
  EntryType,
  type HardState,
  MemoryStorage,
  type Message,
  type NodeId,
  RaftNode,
  type RaftStatus,
  type Ready,
  Role,
} from "../../src/raft/index";
import { checkCommitQuorum } from "./checkers/commit_quorum";
import type { CheckerSuite } from "./checkers/suite";
import { Violation } from "./checkers/violation";
import { entryDigest } from "./digest";
import { KvModel, sameConfState } from "./kv_model";
import { checkHardStateProgress, checkMessagePersisted } from "./persist_checks";
import type { SimPrng } from "./prng";
import { decodeReadId } from "./read_context";
import { type LogView, ShadowLog } from "./shadow_log";
import type { Trace } from "./trace";

/** Core options shared by every node of one run (chosen per seed). */
export interface NodeOptions {
  electionTicks: number;
  heartbeatTicks: number;
  maxAppendBytes: number;
  maxInflightAppends: number;
  maxSnapshotChunkBytes: number;
  maxUncommittedBytes: number;
  /** Take a snapshot and compact once this many entries were applied since the last one. */
  compactEveryEntries: number;
  /** Entries kept in the log behind a new snapshot. */
  compactKeepEntries: number;
  /**
   * Handle Readies as dkv's RaftDriver does with a slow disk: a Ready's fsync
   * is in flight across steps (a crash meanwhile loses its writes), a leader
   * sends before it, and committed entries durable here are applied while it
   * runs (RaftNode.durableCommittedEntries). Otherwise a Ready is atomic.
   */
  asyncSync: boolean;
}

/** A Ready begun and waiting for its fsync (asyncSync). */
interface InFlightReady {
  rd: Ready;
  sentFirst: boolean;
  appliedFirst: boolean;
}

/** Per million, each time a node with a Ready in flight is handled: its fsync has finished. */
const SYNC_DONE_PER_MILLION = 500_000;

/**
 * Deliberate driver bugs, only for the tests that prove the checkers catch
 * them end to end: forgetting the vote in a crash (an unsynced vote),
 * answering a read before the state machine reached its read index, and
 * (with asyncSync) applying what is committed before it is durable here.
 */
export type Sabotage = "none" | "forget_vote_on_crash" | "serve_reads_early" | "apply_before_durable";

/** Where in the Ready cycle a node crashes, if it does. */
export type CrashPoint = "none" | "before_persist" | "after_persist" | "mid_send" | "mid_apply" | "before_advance";

export interface DriverEnvironment {
  readonly checkers: CheckerSuite;
  readonly trace: Trace;
  now(): number;
  send(msg: Message): void;
  /** The persisted log of any node (for the commit-quorum check). */
  logOf(node: NodeId): LogView | undefined;
  /** Asked once per Ready: crash somewhere in it? */
  crashPoint(node: NodeId): CrashPoint;
  readonly sabotage: Sabotage;
}

interface PendingRead {
  readId: number;
  key: string;
  index: number;
}

/** Reads a node holds waiting for its state machine; a client gives up on older ones. */
export const PENDING_READS_PER_NODE_MAX = 256;
/** Reads asked on a node and not answered yet, at most. */
export const READS_ASKED_PER_NODE_MAX = 1024;

export class NodeDriver {
  readonly storage: MemoryStorage;
  readonly shadow = new ShadowLog();
  kv: KvModel;
  private raft: RaftNode | undefined;
  private persistedHardState: HardState = { term: 0, vote: "", commit: 0 };
  /** Highest commit index already reported to the leader-completeness checker. */
  private observedCommit = 0;
  private pendingReads: PendingRead[] = [];
  private inFlight: InFlightReady | undefined;
  /** The voters before the last membership change this node applied (see checkQuorumHolds). */
  private votersBeforeLastChange: readonly NodeId[] | undefined;
  /** Keys of reads this node's clients asked for, by read id (lost in a crash). */
  private readonly readKeys = new Map<number, string>();
  crashCount = 0;
  snapshotsInstalled = 0;
  snapshotsTaken = 0;
  /** Entries applied while a Ready's fsync was in flight: its own committed ones, and ones committed meanwhile. */
  appliedBeforeSync = 0;
  appliedDuringSync = 0;

  constructor(
    readonly id: NodeId,
    initialConfState: ConfState,
    private readonly prng: SimPrng,
    private readonly options: NodeOptions,
    private readonly env: DriverEnvironment,
  ) {
    this.storage = new MemoryStorage({ confState: initialConfState });
    this.kv = new KvModel(initialConfState);
    this.start();
  }

  isUp(): boolean {
    return this.raft !== undefined;
  }

  /** A Ready to handle, or one in flight to finish. */
  hasWork(): boolean {
    return this.raft !== undefined && (this.inFlight !== undefined || this.raft.hasReady());
  }

  /** The running core; throws when the node is down (callers check isUp first). */
  node(): RaftNode {
    if (this.raft === undefined) throw new Error(`${this.id} is down`);
    return this.raft;
  }

  status(): RaftStatus | undefined {
    return this.raft?.status();
  }

  /** Register a client read on this node; the answer comes through a ReadState. */
  noteRead(readId: number, key: string): void {
    // Reads whose answer never comes (their leader changed) are forgotten, oldest first.
    if (this.readKeys.size >= READS_ASKED_PER_NODE_MAX) this.readKeys.delete(this.readKeys.keys().next().value as number);
    this.readKeys.set(readId, key);
  }

  /** The read could not even be asked (refused at once). */
  forgetRead(readId: number): void {
    this.readKeys.delete(readId);
  }

  /** Lose every in-memory thing: the core, its unpersisted state, reads in progress. */
  crash(): void {
    if (this.raft === undefined) return;
    this.raft = undefined;
    this.inFlight = undefined;
    this.pendingReads = [];
    this.readKeys.clear();
    this.crashCount++;
    if (this.env.sabotage === "forget_vote_on_crash") {
      this.storage.setHardState({ ...this.storage.initialState().hardState, vote: "" });
    }
    this.env.trace.add(this.env.now(), () => `${this.id} CRASH`);
  }

  /** Start a new process from the durable state only. */
  start(): void {
    if (this.raft !== undefined) throw new Error(`${this.id} is already running`);
    const snapshot = this.storage.snapshotMeta();
    if (snapshot.index > this.kv.applied) this.restoreFromStorageSnapshot();
    this.commitWhatWasApplied();
    this.raft = new RaftNode({
      id: this.id,
      storage: this.storage,
      prng: this.prng,
      electionTicks: this.options.electionTicks,
      heartbeatTicks: this.options.heartbeatTicks,
      applied: this.kv.applied,
      maxAppendBytes: this.options.maxAppendBytes,
      maxInflightAppends: this.options.maxInflightAppends,
      maxSnapshotChunkBytes: this.options.maxSnapshotChunkBytes,
      maxUncommittedBytes: this.options.maxUncommittedBytes,
      preVote: true,
      checkQuorum: true,
    });
    this.env.trace.add(this.env.now(), () => `${this.id} START applied=${this.kv.applied} ${this.describeDurable()}`);
  }

  /**
   * The durable state machine may hold entries applied before the hard state
   * carrying their commit was written (asyncSync). They were committed, so
   * the commit index is raised to them, as dkv's snapshot record does for
   * its own index: the core refuses an applied index beyond the commit.
   */
  private commitWhatWasApplied(): void {
    const hs = this.storage.initialState().hardState;
    if (this.kv.applied <= hs.commit) return;
    this.storage.setHardState({ ...hs, commit: this.kv.applied });
    this.persistedHardState = this.storage.initialState().hardState;
    this.env.trace.add(this.env.now(), () => `${this.id} commit raised to the applied index ${this.kv.applied}`);
  }

  /** Handle one Ready if there is one; returns false when the node crashed during it. */
  handleReady(): boolean {
    const raft = this.raft;
    if (raft === undefined) return true;
    if (this.inFlight !== undefined) {
      this.applyDurableCommitted(raft);
      return this.prng.chance(SYNC_DONE_PER_MILLION) ? this.finishInFlight(raft) : true;
    }
    if (!raft.hasReady()) return true;
    const rd = raft.ready();
    this.observeSoftState(rd, raft);
    if (this.options.asyncSync && rd.snapshot === undefined && rd.snapshotChunks.length === 0) return this.beginReady(raft, rd);
    const crashAt = this.env.crashPoint(this.id);
    if (crashAt === "before_persist") return this.crashNow("before persisting its Ready");
    return this.completeReady(raft, rd, crashAt, false, false);
  }

  /**
   * The Ready's steps from persisting on: persist, send (unless sent before
   * the fsync), apply (unless applied before it), read states, advance.
   * False when the node crashed on the way.
   */
  private completeReady(raft: RaftNode, rd: Ready, crashAt: CrashPoint, sentFirst: boolean, appliedFirst: boolean): boolean {
    const commitBefore = this.persistedHardState.commit;
    this.persist(rd);
    if (this.persistedHardState.commit > commitBefore) this.checkLeaderCommit(raft);
    if (crashAt === "after_persist") return this.crashNow("after persisting, before sending");
    if (!sentFirst && !this.send(rd, crashAt)) return false;
    if (!appliedFirst && !this.applyCommitted(rd, crashAt === "mid_apply")) return false;
    this.acceptReadStates(rd);
    if (crashAt === "before_advance") return this.crashNow("after applying, before advance()");
    raft.advance();
    this.maybeCompact();
    return true;
  }

  /**
   * asyncSync: what RaftDriver.handleOneReady does before the fsync returns. A
   * leader sends first (Raft §10.2.1); committed entries that are durable
   * here already are applied now; the writes themselves land when the fsync
   * finishes (finishInFlight), and a crash before that loses them. Where it
   * crashes, if it does, is drawn when the fsync finishes: a crash drawn now
   * could land after the faults were healed, and the node would stay down.
   */
  private beginReady(raft: RaftNode, rd: Ready): boolean {
    const sendFirst = raft.status().role === Role.Leader;
    if (sendFirst) this.send(rd, "none");
    const appliedFirst = this.applyBeforeSync(raft, rd);
    this.inFlight = { rd, sentFirst: sendFirst, appliedFirst };
    this.env.trace.add(this.env.now(), () => `${this.id} fsync in flight for ${rd.entries.length} entries${sendFirst ? " (sent first)" : ""}`);
    return true;
  }

  /** The fsync finished: the rest of the Ready, in the order of the atomic path. */
  private finishInFlight(raft: RaftNode): boolean {
    const { rd, sentFirst, appliedFirst } = this.inFlight!;
    this.inFlight = undefined;
    const crashAt = this.env.crashPoint(this.id);
    if (crashAt === "before_persist" || (crashAt === "mid_send" && sentFirst)) return this.crashNow("before its fsync finished");
    return this.completeReady(raft, rd, crashAt, sentFirst, appliedFirst);
  }

  /** Sends a Ready's messages; false when the node crashed midway (crash point mid_send). */
  private send(rd: Ready, crashAt: CrashPoint): boolean {
    const sendCount = crashAt === "mid_send" ? this.prng.nextInt(rd.messages.length + 1) : rd.messages.length;
    for (let k = 0; k < sendCount; k++) {
      const msg = rd.messages[k] as Message;
      checkMessagePersisted(this.persistedHardState, msg);
      this.env.send(msg);
    }
    if (crashAt === "mid_send") return this.crashNow(`after sending ${sendCount} of ${rd.messages.length} messages`);
    return true;
  }

  /**
   * A Ready's committed entries, applied before its fsync when all are
   * durable here and none changes membership (RaftNode.committedDurableBeforeSync).
   * False when they are left for finishInFlight.
   */
  private applyBeforeSync(raft: RaftNode, rd: Ready): boolean {
    const entries = rd.committedEntries;
    // The sabotage skips raft's durability rule, keeping only the membership one.
    const sabotaged = this.env.sabotage === "apply_before_durable";
    const allowed = sabotaged ? entries.length > 0 && rd.confState === undefined && !entries.some((e) => e.type === EntryType.ConfChange) : raft.committedDurableBeforeSync(rd);
    if (!allowed) return false;
    for (const entry of entries) this.applyEntry(entry, true);
    raft.appliedTo((entries[entries.length - 1] as Entry).index);
    this.appliedBeforeSync += entries.length;
    return true;
  }

  /** While a Ready's fsync runs: apply what committed meanwhile and is durable here. */
  private applyDurableCommitted(raft: RaftNode): void {
    const entries = raft.durableCommittedEntries();
    if (entries.length === 0) return;
    for (const entry of entries) this.applyEntry(entry, true);
    raft.appliedTo((entries[entries.length - 1] as Entry).index);
    this.appliedDuringSync += entries.length;
  }

  private crashNow(where: string): boolean {
    this.env.trace.add(this.env.now(), () => `${this.id} crash point: ${where}`);
    this.crash();
    return false;
  }

  private observeSoftState(rd: Ready, raft: RaftNode): void {
    if (rd.softState === undefined) return;
    const status = raft.status();
    this.env.trace.add(this.env.now(), () => `${this.id} role=${Role[rd.softState!.role]} leader=${rd.softState!.leader} term=${status.term}`);
    if (rd.softState.role === Role.Leader) this.env.checkers.electionSafety.observeLeader(this.id, status.term);
  }

  /** Step 1 of the contract: snapshot chunks, snapshot, entries, hard state. */
  private persist(rd: Ready): void {
    for (const chunk of rd.snapshotChunks) this.storage.writeSnapshotChunk(chunk);
    if (rd.snapshot !== undefined) {
      this.storage.installSnapshot(rd.snapshot);
      this.shadow.installSnapshot(rd.snapshot.index, rd.snapshot.term);
      this.snapshotsInstalled++;
      this.env.trace.add(this.env.now(), () => `${this.id} persist snapshot index=${rd.snapshot!.index} term=${rd.snapshot!.term}`);
    }
    if (rd.entries.length > 0) this.persistEntries(rd.entries);
    if (rd.hardState !== undefined) {
      checkHardStateProgress(this.id, this.persistedHardState, rd.hardState);
      this.storage.setHardState(rd.hardState);
      this.persistedHardState = { ...rd.hardState };
    }
    // installSnapshot may raise the durable commit too.
    this.persistedHardState = this.storage.initialState().hardState;
    this.observeCommit();
  }

  private persistEntries(entries: Entry[]): void {
    const first = entries[0] as Entry;
    const last = entries[entries.length - 1] as Entry;
    const truncates = first.index <= this.shadow.lastIndex();
    this.storage.append(entries);
    this.shadow.append(entries);
    if (this.storage.lastIndex() !== this.shadow.lastIndex()) {
      throw new Violation("driver contract", `${this.id}: storage last index ${this.storage.lastIndex()} != persisted ${this.shadow.lastIndex()}`);
    }
    const from = Math.max(first.index, this.shadow.snapshotIndex + 1);
    if (from <= last.index) this.env.checkers.logMatching.observeAppend(this.id, this.shadow, from, last.index);
    this.env.trace.add(this.env.now(), () =>
      `${this.id} persist entries ${first.index}..${last.index} terms ${first.term}..${last.term}${truncates ? " (replacing)" : ""}`,
    );
  }

  /** A leader's new commit index must be held by a majority of its voters. */
  private checkLeaderCommit(raft: RaftNode): void {
    const status = raft.status();
    if (status.role !== Role.Leader) return;
    const index = this.persistedHardState.commit;
    const indexTerm = this.shadow.term(index);
    if (indexTerm === undefined || index <= this.shadow.snapshotIndex) return;
    this.checkQuorumHolds(status.term, index, indexTerm, status.confState.voters);
  }

  /** Report newly committed indexes (as far as this node knows) to the leader-completeness checker. */
  private observeCommit(): void {
    const hs = this.persistedHardState;
    if (hs.commit <= this.observedCommit) return;
    if (hs.commit > this.shadow.lastIndex()) {
      throw new Violation("driver contract", `${this.id} persisted commit ${hs.commit} beyond its persisted log (last index ${this.shadow.lastIndex()})`);
    }
    for (let index = Math.max(this.observedCommit + 1, this.shadow.snapshotIndex); index <= hs.commit; index++) {
      const term = this.shadow.term(index) as number;
      const digest = this.shadow.digest(index);
      if (digest !== undefined) this.env.checkers.leaderCompleteness.observeCommitted(this.id, index, term, digest, hs.term);
    }
    this.observedCommit = hs.commit;
  }

  /** Step 3: the snapshot (if any) and committed entries, into the durable state machine. */
  private applyCommitted(rd: Ready, crashMidway: boolean): boolean {
    if (rd.snapshot !== undefined && rd.snapshot.index > this.kv.applied) this.restoreFromStorageSnapshot();
    const crashAfter = crashMidway ? this.prng.nextInt(rd.committedEntries.length + 1) : -1;
    for (let k = 0; k < rd.committedEntries.length; k++) {
      if (k === crashAfter) return this.crashNow(`after applying ${k} of ${rd.committedEntries.length} committed entries`);
      this.applyEntry(rd.committedEntries[k] as Entry);
    }
    if (crashAfter === rd.committedEntries.length) return this.crashNow("after applying all committed entries");
    if (rd.confState !== undefined && !sameConfState(rd.confState, this.kv.confState)) {
      throw new Violation(
        "driver contract",
        `${this.id}: Ready.confState ${JSON.stringify(rd.confState)} differs from the membership the applied entries give ` +
          JSON.stringify(this.kv.confState),
      );
    }
    return true;
  }

  /** `early`: applied before the hard state carrying its commit is durable (asyncSync). */
  private applyEntry(entry: Entry, early = false): void {
    const checkers = this.env.checkers;
    const digest = entryDigest(entry.type, entry.data);
    const persistedTerm = this.shadow.term(entry.index);
    if (entry.index > this.persistedHardState.commit) {
      if (!early) {
        throw new Violation("driver contract", `${this.id} was handed entry ${entry.index} to apply beyond its durable commit ${this.persistedHardState.commit}`);
      }
      this.checkDurablyCommitted(entry, persistedTerm);
    }
    if (persistedTerm !== undefined && entry.index > this.shadow.snapshotIndex && (persistedTerm !== entry.term || this.shadow.digest(entry.index) !== digest)) {
      throw new Violation("driver contract", `${this.id} was handed entry ${entry.index} term ${entry.term} to apply, but persisted term ${persistedTerm} there`);
    }
    const history = checkers.stateMachineSafety.observeApply(this.id, entry.index, entry.term, digest);
    const votersBefore = this.kv.confState.voters;
    const effect = this.kv.apply(entry, decodeConfChange);
    if (effect.confChange !== undefined) this.votersBeforeLastChange = votersBefore;
    if (history !== effect.historyDigest) throw new Error(`${this.id}: kv model history disagrees with the checker at ${entry.index}`);
    checkers.readFreshness.observeApplied(entry.index, effect.key);
    if (effect.confChange !== undefined) {
      // Membership is durable with the applied index (the same transaction as the state machine).
      this.storage.setConfState(this.kv.confState);
      this.env.trace.add(this.env.now(), () => `${this.id} apply conf change ${entry.index} -> ${JSON.stringify(this.kv.confState)}`);
    } else if (entry.type === EntryType.Normal && this.env.trace.enabled) {
      this.env.trace.add(this.env.now(), () => `${this.id} apply ${entry.index}/${entry.term}${effect.key === undefined ? " no-op" : ` set ${effect.key}`}`);
    }
    this.serveReads();
  }

  /**
   * An entry applied before its commit index is durable here must be durable
   * here, and (checked on a leader, whose membership is the one that
   * committed it: early applies stop before a membership change) on a
   * majority of the voters' disks.
   */
  private checkDurablyCommitted(entry: Entry, persistedTerm: number | undefined): void {
    if (entry.index > this.shadow.snapshotIndex && persistedTerm !== entry.term) {
      throw new Violation(
        "apply before durable",
        `${this.id} applied entry ${entry.index} (term ${entry.term}) before it was durable here (persisted: ${persistedTerm ?? "nothing"})`,
      );
    }
    const status = this.raft?.status();
    if (status?.role !== Role.Leader) return;
    this.checkQuorumHolds(status.term, entry.index, entry.term, status.confState.voters);
  }

  /**
   * A majority of the voters holds the entry. With asyncSync a leader's
   * commit index can pass an entry while a membership change is committed
   * but not yet applied (the core switches membership in advance()), and
   * the check may come only after the switch: then a majority of the
   * voters before it does, as the core counted.
   */
  private checkQuorumHolds(leaderTerm: number, index: number, indexTerm: number, voters: readonly NodeId[]): void {
    const logOf = (id: NodeId) => this.env.logOf(id);
    try {
      checkCommitQuorum(this.id, leaderTerm, index, indexTerm, voters, logOf);
    } catch (error) {
      const before = this.votersBeforeLastChange;
      if (!(error instanceof Violation) || !this.options.asyncSync || before === undefined) throw error;
      checkCommitQuorum(this.id, leaderTerm, index, indexTerm, before, logOf);
    }
  }

  private restoreFromStorageSnapshot(): void {
    const meta = this.storage.snapshotMeta();
    const restored = KvModel.restore(this.storage.snapshotImage());
    if (restored.applied !== meta.index) {
      throw new Violation("driver contract", `${this.id}: snapshot ${meta.index} holds a state machine image at index ${restored.applied}`);
    }
    if (!sameConfState(restored.confState, meta.confState)) {
      throw new Violation("driver contract", `${this.id}: snapshot ${meta.index} membership ${JSON.stringify(meta.confState)} differs from its image's ${JSON.stringify(restored.confState)}`);
    }
    this.env.checkers.stateMachineSafety.observeRestore(this.id, meta.index, restored.history);
    this.kv = restored;
    this.votersBeforeLastChange = undefined;
    this.storage.setConfState(restored.confState);
    this.env.trace.add(this.env.now(), () => `${this.id} restore state machine from snapshot ${meta.index}`);
    this.serveReads();
  }

  private acceptReadStates(rd: Ready): void {
    for (const rs of rd.readStates) {
      const readId = decodeReadId(rs.context);
      const key = this.readKeys.get(readId);
      if (key === undefined) continue; // not ours, or asked before a crash
      this.readKeys.delete(readId);
      if (this.pendingReads.length >= PENDING_READS_PER_NODE_MAX) this.pendingReads.shift();
      this.pendingReads.push({ readId, key, index: rs.index });
    }
    this.serveReads();
  }

  private serveReads(): void {
    if (this.pendingReads.length === 0) return;
    const waiting: PendingRead[] = [];
    for (const read of this.pendingReads) {
      if (read.index > this.kv.applied && this.env.sabotage !== "serve_reads_early") {
        waiting.push(read);
        continue;
      }
      const value = this.kv.get(read.key);
      this.env.trace.add(this.env.now(), () => `${this.id} read ${read.readId} "${read.key}" at ${read.index} = ${value?.value ?? "absent"}`);
      this.env.checkers.readFreshness.serveRead(read.readId, read.index, value?.index ?? 0);
    }
    this.pendingReads = waiting;
  }

  /** Aggressive compaction: snapshot the state machine at applied, drop the log behind it. */
  private maybeCompact(): void {
    const snapshotIndex = this.storage.snapshotMeta().index;
    if (this.kv.applied - snapshotIndex < this.options.compactEveryEntries) return;
    this.commitWhatWasApplied();
    this.storage.createSnapshot(this.kv.applied, this.kv.confState, this.kv.serialize());
    this.snapshotsTaken++;
    const compactTo = Math.max(this.kv.applied - this.options.compactKeepEntries, this.storage.firstIndex() - 1);
    this.storage.compact(compactTo);
    this.shadow.compact(compactTo);
    this.env.trace.add(this.env.now(), () => `${this.id} snapshot at ${this.kv.applied}, compacted to ${compactTo}`);
  }

  private describeDurable(): string {
    const hs = this.storage.initialState().hardState;
    return `term=${hs.term} vote=${hs.vote} commit=${hs.commit} log=${this.shadow.snapshotIndex + 1}..${this.shadow.lastIndex()}`;
  }
}
