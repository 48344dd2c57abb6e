// Drives the pure raft core with real time, storage and network. One Ready
// is handled at a time in the order the core demands: persist (one fsync for
// every proposal gathered since the last Ready: group commit), send, apply,
// answer waiting requests, advance. Everything runs on the event loop, so
// proposals arriving while sqlite syncs simply land in the next Ready, and
// entries that commit meanwhile are applied and answered at once if they are
// durable here (RaftNode.durableCommittedEntries) rather than after the fsync.
import {
  ConfChangeType,
  EntryType,
  RaftError,
  Role,
  decodeConfChange,
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  type RaftNode,
  type ReadState,
  type Ready,
} from "../raft/index.ts";
import { NodeError, WriteOutcomeUnknown } from "./contract.ts";
import type { Logger } from "./logger.ts";
import type { NodeMetrics } from "./node-metrics.ts";
import { PendingProposals, withDeadline } from "./pending.ts";
import { type ApplyResult, LOG_SEGMENT_ENTRIES, type Storage } from "../storage/index.ts";
import { isMemberRecordKey, memberRecordCommand } from "./members.ts";
import { toApplyOutcome, type ApplyOutcome } from "./apply-outcome.ts";
import type { CancelSignal } from "./cancel-signal.ts";

/** Ready rounds handled in one go before yielding to the event loop (so timers and I/O still run). */
const MAX_READY_ROUNDS_PER_TURN = 64;
/** Entries kept behind a snapshot so a briefly lagging follower catches up from the log, not a snapshot. */
const SNAPSHOT_CATCHUP_ENTRIES = 5000;
/** Log entries compacted per step: at most one segment table dropped per step (a few ms of the event loop). */
const COMPACTION_STEP_ENTRIES = LOG_SEGMENT_ENTRIES;
/** A read index request not answered within this many ticks is asked again (its message may be lost). */
const READ_INDEX_RETRY_TICKS = 5;
/**
 * After a failed snapshot, ticks before the next try (10 s at the default
 * 100-ms heartbeat). Without a pause every later Ready tried again at once:
 * a disk that refused one image refused hundreds a second, each logged.
 */
const SNAPSHOT_RETRY_TICKS = 100;
/**
 * A log write (commit and fsync) at least this slow is logged, at most once
 * per SLOW_WRITE_LOG_INTERVAL_MS: every write waits for it, and a leader whose
 * disk stalls past the election timeout sends no heartbeats meanwhile.
 */
const SLOW_WRITE_MS = 1000;
const SLOW_WRITE_LOG_INTERVAL_MS = 10_000;
/**
 * A log fsync still running after this long is reported while it runs, every
 * SLOW_WRITE_LOG_INTERVAL_MS: a disk that stopped answering never completes a
 * write, so the warning above would never come, and the member would sit
 * silent while the others elect a new leader without it.
 */
const STUCK_WRITE_MS = 5000;
interface ReadBatch {
  waiters: Array<{ resolve: () => void; reject: (e: NodeError) => void }>;
  issuedAtTick: number;
}

export interface DriverOptions {
  raft: RaftNode;
  store: Storage;
  send: (messages: Message[], flush: boolean) => void;
  log: Logger;
  metrics: NodeMetrics;
  snapshotCount: number;
  requestTimeoutMs: number;
  /** Called after membership changed (applied conf change). */
  onMembershipApplied: () => void;
  /** Called when this node's view of the leader or its role changes. */
  onLeaderChange: (leader: string, role: Role) => void;
  /** The results of each apply round, in order (watches). */
  onApplied?: (results: readonly ApplyResult[]) => void;
  /** The state was replaced by a snapshot from the leader, up to `index`. */
  onSnapshotInstalled?: (index: number) => void;
  /**
   * Storage failed (a full disk, an fsync error): the driver has stopped and
   * the process must end, to restart from what the disk holds. Without it the
   * driver throws from a callback, which ends a process that has no
   * top-level await pending.
   */
  onStorageFailure?: (reason: string) => void;
}

export class RaftDriver {
  private readonly proposals = new PendingProposals<ApplyOutcome>();
  private readyScheduled = false;
  private ticks = 0;
  private nextReadId = 1;
  /** Reads not yet sent to raft as a read index request. */
  private queuedReads: ReadBatch["waiters"] = [];
  /** Read index requests sent, by context. */
  private readonly inflightReads = new Map<string, ReadBatch>();
  /** Confirmed reads waiting for the applied index to reach theirs, in index order. */
  private readonly readsAwaitingApply: Array<{ index: number; waiters: ReadBatch["waiters"] }> = [];
  private lastSnapshotIndex: number;
  private leader = "";
  private role = Role.Follower;
  private stopped = false;
  private applied: number;
  private snapshotting = false;
  private snapshotRetryAtTick = 0;
  /** A Ready's log write is committed and waits for its fsync; no other Ready is taken meanwhile. */
  private syncing = false;
  /** Log writes over SLOW_WRITE_MS since the last warning about them. */
  private slowWrites = { count: 0, longestMs: 0, loggedAt: Number.NEGATIVE_INFINITY };
  /** When the log fsync in flight (while syncing) began, and when a stuck one was last reported. */
  private syncStartedAt = 0;
  private stuckSyncLoggedAt = Number.NEGATIVE_INFINITY;
  private pendingSync: Promise<void> = Promise.resolve();

  constructor(private readonly o: DriverOptions) {
    this.lastSnapshotIndex = o.store.log.snapshotMeta().index;
    this.applied = o.store.kv.appliedIndex();
  }

  get leaderId(): string {
    return this.leader;
  }

  get isLeader(): boolean {
    return this.role === Role.Leader;
  }

  /** Stopped: by stop(), or by a storage failure (then nothing more is sent or written). */
  get isStopped(): boolean {
    return this.stopped;
  }

  get pendingProposals(): number {
    return this.proposals.size;
  }

  tick(): void {
    if (this.stopped) return;
    this.ticks++;
    this.o.raft.tick();
    this.retryReads();
    this.warnIfSyncStuck();
    this.schedule();
  }

  private warnIfSyncStuck(): void {
    if (!this.syncing) return;
    const now = performance.now();
    const waitingMs = now - this.syncStartedAt;
    if (waitingMs < STUCK_WRITE_MS || now - this.stuckSyncLoggedAt < SLOW_WRITE_LOG_INTERVAL_MS) return;
    this.stuckSyncLoggedAt = now;
    this.o.log.warn("stuck disk: an fsync of the raft log has not returned; this member sends, acknowledges and applies nothing until it does (check the disk: dmesg)", {
      waitingMs: Math.round(waitingMs),
      dataDir: this.o.store.paths.dir,
    });
  }

  step(message: Message): void {
    if (this.stopped) return;
    this.o.raft.step(message);
    this.schedule();
  }

  /** Proposes a command on this node (the leader) and resolves with its outcome once applied. */
  propose(data: Uint8Array, signal?: CancelSignal): Promise<ApplyOutcome> {
    return this.track(() => this.o.raft.propose(data), "the write", signal);
  }

  proposeConfChange(change: ConfChange, signal?: CancelSignal): Promise<ApplyOutcome> {
    return this.track(() => this.o.raft.proposeConfChange(change), "the membership change", signal);
  }

  /** Waits for the entry a proposal got until it applies; a refusal or a deadline settles it instead. */
  private track(proposeNow: () => { index: number; term: number }, what: string, signal?: CancelSignal): Promise<ApplyOutcome> {
    let index = -1;
    return withDeadline<ApplyOutcome>(
      this.o.requestTimeoutMs,
      signal,
      (waiter) => {
        try {
          const at = proposeNow();
          index = at.index;
          this.proposals.add(at.index, at.term, waiter);
          this.schedule();
        } catch (error) {
          this.o.metrics.proposalsFailed.with("refused").inc();
          waiter.reject(toNodeError(error));
        }
      },
      () => {
        if (index >= 0) this.proposals.drop(index);
        this.o.metrics.proposalsFailed.with("timeout").inc();
      },
      `${what} was proposed but not confirmed in time; its outcome is unknown (it may still be applied)`,
    );
  }

  /** Resolves once this node has applied everything committed before the call (linearizable read point). */
  readBarrier(signal?: CancelSignal): Promise<void> {
    let holder: ReadBatch["waiters"][number] | undefined;
    return withDeadline<void>(
      this.o.requestTimeoutMs,
      signal,
      (waiter) => {
        holder = waiter;
        this.queuedReads.push(waiter);
        this.flushReads();
        this.schedule();
      },
      () => {
        this.queuedReads = this.queuedReads.filter((w) => w !== holder);
      },
      "could not confirm a linearizable read in time (no leader or no quorum reachable)",
    );
  }

  transferLeadership(to: string): void {
    this.o.raft.transferLeadership(to);
    this.schedule();
  }

  reportUnreachable(id: string): void {
    this.o.raft.reportUnreachable(id);
  }

  stop(): void {
    this.stopped = true;
    const error = new NodeError("unavailable", "the node is shutting down; retry on another member");
    // A proposal may already be in other members' logs and commit there: retrying it blindly could apply it twice.
    this.proposals.rejectAll(new WriteOutcomeUnknown());
    for (const w of this.queuedReads) w.reject(error);
    for (const batch of this.inflightReads.values()) for (const w of batch.waiters) w.reject(error);
    for (const batch of this.readsAwaitingApply) for (const w of batch.waiters) w.reject(error);
    this.queuedReads = [];
    this.inflightReads.clear();
    this.readsAwaitingApply.length = 0;
  }

  /** Handles pending Ready rounds soon, once per event-loop turn: proposals made meanwhile share the fsync. */
  schedule(): void {
    if (this.readyScheduled || this.stopped) return;
    this.readyScheduled = true;
    setImmediate(() => {
      this.readyScheduled = false;
      this.handleReadies();
    });
  }

  /** Handles ready rounds now; exported for shutdown flushes. */
  handleReadies(): void {
    if (this.syncing && !this.stopped) this.applyDurableCommitted();
    for (let round = 0; round < MAX_READY_ROUNDS_PER_TURN && !this.stopped && !this.syncing && this.o.raft.hasReady(); round++) {
      this.handleOneReady();
    }
    if (!this.stopped && !this.syncing && this.o.raft.hasReady()) this.schedule();
  }

  /** Handles what is ready now, waiting for any fsync in progress first (shutdown: flush the last messages). */
  async flush(): Promise<void> {
    while (this.syncing && !this.stopped) await this.pendingSync;
    this.handleReadies();
    while (this.syncing && !this.stopped) await this.pendingSync;
  }

  private handleOneReady(): void {
    const { raft, store } = this.o;
    const ready = raft.ready();
    if (ready.softState) this.noteSoftState(ready.softState.leader, ready.softState.role);
    if (ready.snapshot) {
      this.installSnapshotThenFinish(ready);
      return;
    }

    // A leader may send before its own fsync (Raft §10.2.1). Acknowledgements
    // of this Ready's entries may move the commit index while we wait, but a
    // commit index leaves this node (in messages, or as entries to apply and
    // answer) only in a later Ready, which is not taken before this one is
    // durable. Writing now lets followers' fsyncs overlap ours. Everyone else
    // persists first (votes and acks must be durable before they go out).
    const sendFirst = this.role === Role.Leader && ready.snapshotChunks.length === 0;
    if (sendFirst && ready.messages.length > 0) this.o.send(ready.messages, true);
    if (ready.hardState || ready.entries.length > 0 || ready.snapshotChunks.length > 0) {
      const started = performance.now();
      let syncPending: boolean;
      try {
        ({ syncPending } = store.persistReady({
          entries: ready.entries,
          snapshotChunks: ready.snapshotChunks,
          mustSync: ready.mustSync,
          deferSync: true,
          ...(ready.hardState ? { hardState: ready.hardState } : {}),
        }));
      } catch (error) {
        // Nothing of this Ready went out but what a leader may send first; it must not go on without its log.
        this.failStorage("writing the raft log failed; stopping", error);
        return;
      }
      if (syncPending) {
        // The rest of this Ready waits for the disk; meanwhile the event loop
        // keeps taking requests and messages, which raft batches into the
        // next Ready (taken only after this one is finished), and applies
        // what commits meanwhile if it is durable here (handleReadies).
        const appliedNow = this.applyBeforeSync(ready);
        this.syncing = true;
        this.syncStartedAt = started;
        this.pendingSync = store.syncLog().then(
          () => {
            this.observeLogWrite(started);
            this.syncing = false;
            if (this.stopped) return;
            this.finishReady(ready, sendFirst, appliedNow);
            this.handleReadies();
          },
          // Like a failed synchronous commit: the process must end, and
          // restart from what the disk really holds.
          (error: unknown) => this.failStorage("the raft log could not be made durable; stopping", error),
        );
        return;
      }
      this.observeLogWrite(started);
    }
    this.finishReady(ready, sendFirst);
  }

  private observeLogWrite(started: number): void {
    const tookMs = performance.now() - started;
    this.o.metrics.fsyncSeconds.observe(tookMs / 1000);
    if (tookMs < SLOW_WRITE_MS) return;
    this.slowWrites.count++;
    this.slowWrites.longestMs = Math.max(this.slowWrites.longestMs, tookMs);
    const now = performance.now();
    if (now - this.slowWrites.loggedAt < SLOW_WRITE_LOG_INTERVAL_MS) return;
    this.o.log.warn("slow disk: writing the raft log took over 1 s; every write waits for it, and a leader sends no heartbeats meanwhile", {
      slowWrites: this.slowWrites.count,
      longestMs: Math.round(this.slowWrites.longestMs),
      dataDir: this.o.store.paths.dir,
    });
    this.slowWrites = { count: 0, longestMs: 0, loggedAt: now };
  }

  /**
   * A Ready that installs a snapshot from the leader. Checking and loading a
   * large image takes seconds, so Storage.prepareSnapshot does it in slices
   * while the event loop keeps serving (requests, health checks, raft
   * messages for the next Ready); like an fsync, it holds back later Readies.
   */
  private installSnapshotThenFinish(ready: Ready): void {
    const { store, metrics } = this.o;
    const snapshot = ready.snapshot!;
    const started = performance.now();
    this.syncing = true;
    this.pendingSync = store
      .prepareSnapshot(ready.snapshotChunks, snapshot)
      .then((prepared) => {
        this.syncing = false;
        if (this.stopped) return;
        store.persistReady(
          {
            entries: ready.entries,
            snapshotChunks: ready.snapshotChunks,
            snapshot,
            mustSync: ready.mustSync,
            ...(ready.hardState ? { hardState: ready.hardState } : {}),
          },
          prepared,
        );
        metrics.fsyncSeconds.observe((performance.now() - started) / 1000);
        this.lastSnapshotIndex = snapshot.index;
        this.applied = store.kv.appliedIndex();
        this.o.onSnapshotInstalled?.(snapshot.index);
        this.o.log.info("installed snapshot from leader", {
          index: snapshot.index,
          term: snapshot.term,
          keys: prepared.stats.rows,
          slices: prepared.stats.slices,
          ms: Math.round(performance.now() - started),
        });
        this.finishReady(ready, false);
        this.handleReadies();
      })
      // Loading or installing failed (the install itself may have failed midway): restart from the disk.
      .catch((error: unknown) => {
        if (this.stopped) return; // shutting down: the staged image is picked up again after restart
        this.failStorage("installing the snapshot from the leader failed; stopping", error);
      });
  }

  /** Storage failed in a way the node cannot recover from: stop, and have the process end. */
  private failStorage(message: string, error: unknown): void {
    if (this.stopped) return;
    this.o.log.error(message, { error });
    this.stop();
    const onFailure = this.o.onStorageFailure;
    if (onFailure) {
      onFailure(`${message}: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    setImmediate(() => {
      throw error;
    });
  }

  /** Applies a Ready's committed entries before its fsync when raft says they may be (see committedDurableBeforeSync). True when it did. */
  private applyBeforeSync(ready: Ready): boolean {
    if (!this.o.raft.committedDurableBeforeSync(ready)) return false;
    this.applyEarly(ready.committedEntries);
    return true;
  }

  /**
   * While a Ready waits for its fsync: applies entries committed meanwhile
   * that are durable here, and answers their writes. Otherwise a leader
   * answered a write only after the fsync of the Ready after the one that
   * sent it (followers acknowledge after their own fsync, which ends about
   * when the leader's does, and by then the next Ready holds the loop).
   */
  private applyDurableCommitted(): void {
    const entries = this.o.raft.durableCommittedEntries();
    if (entries.length > 0) this.applyEarly(entries);
  }

  private applyEarly(entries: Entry[]): void {
    const membershipChanged = this.apply(entries, undefined);
    this.o.raft.appliedTo(entries[entries.length - 1]!.index);
    if (membershipChanged) this.o.onMembershipApplied();
    this.releaseReads();
  }

  /** The steps of a Ready after it is durable: send, apply (unless done before the fsync), answer reads, advance. */
  private finishReady(ready: Ready, sentFirst: boolean, appliedAlready = false): void {
    if (!sentFirst && ready.messages.length > 0) this.o.send(ready.messages, false);
    const membershipChanged =
      !appliedAlready && (ready.committedEntries.length > 0 || ready.confState) ? this.apply(ready.committedEntries, ready.confState) : false;
    for (const state of ready.readStates) this.readConfirmed(state);
    // The core switches to a new membership in advance(): only then is it visible in status().
    this.o.raft.advance();
    if (membershipChanged || ready.snapshot) this.o.onMembershipApplied();
    this.releaseReads();
    this.maybeSnapshot();
  }

  /** Applies committed entries; true when membership changed. */
  private apply(entries: Entry[], confState: ConfState | undefined): boolean {
    const started = performance.now();
    // Conf changes are kept in the state machine as member records, so a
    // snapshot carries every member's addresses along with the membership.
    const forStore = entries.map((entry) => {
      if (entry.type !== EntryType.ConfChange) return entry;
      const change = decodeConfChange(entry.data);
      return { ...entry, type: EntryType.Normal, data: memberRecordCommand(change) };
    });
    const results = this.o.store.applyCommitted(forStore, confState);
    this.applied = this.o.store.kv.appliedIndex();
    this.o.onApplied?.(results);
    this.o.metrics.applySeconds.observe((performance.now() - started) / 1000);
    let membershipChanged = confState !== undefined;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      const result = results[i]!;
      if (entry.type === EntryType.ConfChange || (result.kind === "put" && isMemberRecordKey(result.kv.key))) membershipChanged = true;
      this.proposals.applied(entry.index, entry.term, () => toApplyOutcome(result));
      if (entry.data.length > 0) this.o.metrics.proposalsCommitted.inc();
    }
    return membershipChanged;
  }

  /** Every snapshotCount applied entries: write a snapshot (in the background) and compact the log behind it. */
  private maybeSnapshot(): void {
    if (this.snapshotting || this.ticks < this.snapshotRetryAtTick || this.applied - this.lastSnapshotIndex < this.o.snapshotCount) return;
    this.snapshotting = true;
    const started = performance.now();
    this.o.store
      .createSnapshot()
      .then((meta) => {
        this.lastSnapshotIndex = meta.index;
        if (this.stopped) return;
        const compactTo = Math.max(this.o.store.log.firstIndex() - 1, meta.index - Math.min(SNAPSHOT_CATCHUP_ENTRIES, this.o.snapshotCount));
        return this.compactInSteps(compactTo).then(() => {
          this.o.log.info("snapshot taken", { index: meta.index, bytes: meta.sizeBytes, compactedTo: compactTo, ms: Math.round(performance.now() - started) });
        });
      })
      .catch((error: unknown) => {
        if (this.stopped) return;
        this.snapshotRetryAtTick = this.ticks + SNAPSHOT_RETRY_TICKS;
        this.o.log.error("snapshot failed; trying again after a pause", { error, pauseTicks: SNAPSHOT_RETRY_TICKS });
      })
      .finally(() => {
        this.snapshotting = false;
      });
  }

  /**
   * Compacts the log up to `to` a segment at a time, yielding between steps
   * (dropping a segment table of 10,000 entries takes a few ms). Each step is
   * a valid compaction on its own; a snapshot installed meanwhile makes the
   * rest a no-op.
   */
  private async compactInSteps(to: number): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      const first = this.o.store.log.firstIndex();
      if (first > to) return;
      this.o.store.compact(Math.min(to, first - 1 + COMPACTION_STEP_ENTRIES));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  private noteSoftState(leader: string, role: Role): void {
    const changed = leader !== this.leader;
    this.leader = leader;
    this.role = role;
    if (changed) {
      this.o.metrics.leaderChanges.inc();
      // Reads sent to the old leader will not be answered; ask the new one.
      for (const [ctx, batch] of this.inflightReads) {
        this.queuedReads.push(...batch.waiters);
        this.inflightReads.delete(ctx);
      }
      this.flushReads();
    }
    this.o.onLeaderChange(leader, role);
  }

  /**
   * Sends the queued reads as one read index request. While one is in flight,
   * reads arriving meanwhile wait and share the next (etcd does the same):
   * each request costs the leader a heartbeat round to every follower, so
   * one per read would flood the peers at high concurrency. Every read still
   * gets an index asked for after it arrived, which keeps it linearizable.
   */
  private flushReads(): void {
    if (this.queuedReads.length === 0 || this.inflightReads.size > 0) return;
    const context = new TextEncoder().encode(`r${this.nextReadId++}`);
    try {
      this.o.raft.readIndex(context);
    } catch {
      return; // No leader yet: the queued reads are tried again on the next tick.
    }
    this.inflightReads.set(new TextDecoder().decode(context), { waiters: this.queuedReads, issuedAtTick: this.ticks });
    this.queuedReads = [];
  }

  private retryReads(): void {
    for (const [ctx, batch] of this.inflightReads) {
      if (this.ticks - batch.issuedAtTick >= READ_INDEX_RETRY_TICKS) {
        this.inflightReads.delete(ctx);
        this.queuedReads.push(...batch.waiters);
      }
    }
    this.flushReads();
  }

  private readConfirmed(state: ReadState): void {
    const ctx = new TextDecoder().decode(state.context);
    const batch = this.inflightReads.get(ctx);
    if (!batch) return;
    this.inflightReads.delete(ctx);
    this.readsAwaitingApply.push({ index: state.index, waiters: batch.waiters });
    this.readsAwaitingApply.sort((a, b) => a.index - b.index);
    this.flushReads();
  }

  private releaseReads(): void {
    const applied = this.applied;
    while (this.readsAwaitingApply.length > 0 && this.readsAwaitingApply[0]!.index <= applied) {
      for (const waiter of this.readsAwaitingApply.shift()!.waiters) waiter.resolve();
    }
  }
}

/** Turns the core's refusals into errors a client can act on. */
export function toNodeError(error: unknown): NodeError {
  if (error instanceof NodeError) return error;
  if (error instanceof RaftError) {
    switch (error.reason) {
      case "not_leader":
        return new NodeError("unavailable", error.leaderHint ? `not the leader; the leader is ${error.leaderHint}` : "no leader elected yet; retry shortly");
      case "transfer_in_progress":
        return new NodeError("unavailable", "leadership is being transferred; retry shortly");
      case "conf_change_pending":
        return new NodeError("failed_precondition", `${error.message}; wait for the previous membership change to finish`);
      case "learner_not_caught_up":
        return new NodeError("failed_precondition", `${error.message}; it is promoted automatically once caught up`);
      case "overloaded":
        return new NodeError("resource_exhausted", `${error.message}; slow down`);
      default:
        return new NodeError("invalid_argument", error.message);
    }
  }
  return new NodeError("internal", error instanceof Error ? error.message : String(error));
}

export function isVoterChange(change: ConfChange): boolean {
  return change.type === ConfChangeType.AddVoter;
}
