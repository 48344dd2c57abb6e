// The raft log and hard state on SQLite, read by the consensus core through
// LogStorage. Entries and hard state are durable when persist() returns: one
// transaction, one fsync (synchronous=FULL), however many entries.
//
// Why FULL and not NORMAL for the log: with NORMAL a commit reaches the WAL but
// is not fsynced, so a power loss can drop the last commits. Raft's safety rests
// on what a node has promised: a vote it granted, or entries it acknowledged to
// a leader, who counted them toward a quorum and told a client "committed". If
// those vanish, the node can vote twice in a term or the quorum that committed
// an entry can shrink below a majority - an acknowledged write can be lost.
//
// The hot path (term(), lastIndex(), entries just appended) is answered from
// memory; SQLite is read only for older entries.

import type { Database, Statement } from "bun:sqlite";
import type { ConfState, Entry, EntryType, HardState, LogStorage, SnapshotMeta } from "../raft/types";
import { EntryCache } from "./entry-cache";
import { assert } from "./errors";
import { LogSegments, type LogRow } from "./log-segments";
import { encodeConfState } from "./schema";
import type { WriteTransactions } from "./sqlite";
import { TermRuns } from "./term-runs";

/** Cache of the newest entries: enough for a leader's in-flight window of appends. */
export const ENTRY_CACHE_MAX_BYTES = 16 * 1024 * 1024;
export const ENTRY_CACHE_MAX_ENTRIES = 16_384;

const ENTRY_TYPE_NORMAL: EntryType.Normal = 0;
const ENTRY_TYPE_CONF_CHANGE: EntryType.ConfChange = 1;

/** What must be durable from one Ready before its messages are sent. */
export interface PersistInput {
  hardState?: HardState;
  /** New entries; one at an existing index replaces it and everything after it. */
  entries: readonly Entry[];
  /** Membership to record with this write (bootstrap of a new cluster); normally it comes with apply. */
  confState?: ConfState;
  /**
   * "normal" skips the fsync: for a write raft does not need durable before
   * its messages go out (only the commit index moved; Ready.mustSync false).
   * A crash may lose it, and the WAL recovers a prefix of transactions, so
   * the stored commit index never falls behind a stored applied index.
   */
  sync?: "full" | "normal";
}

/** Where the log finds the snapshot it reports to the core (implemented by SnapshotStore). */
export interface SnapshotSource {
  newestMeta(): SnapshotMeta;
  readChunk(meta: SnapshotMeta, offset: number, maxBytes: number): { data: Uint8Array; done: boolean };
}

export class LogStore implements LogStorage {
  private readonly segments: LogSegments;
  private readonly updateHardState: Statement;
  private readonly updateLogState: Statement;
  private readonly updateConfState: Statement;

  private hard: HardState = { term: 0, vote: "", commit: 0 };
  private compactedIndex = 0;
  private compactedTerm = 0;
  private last = 0;
  private terms = new TermRuns();
  private readonly cache = new EntryCache(ENTRY_CACHE_MAX_BYTES, ENTRY_CACHE_MAX_ENTRIES);

  constructor(
    private readonly db: Database,
    private readonly transactions: WriteTransactions,
    private readonly snapshots: SnapshotSource,
    /** Membership as of the state machine's starting index (what the core starts with). */
    private readonly startingConf: () => ConfState,
  ) {
    this.segments = new LogSegments(db);
    this.updateHardState = db.prepare("UPDATE hard_state SET term = ?, vote = ?, commit_index = ? WHERE id = 1");
    this.updateLogState = db.prepare("UPDATE log_state SET compacted_index = ?, compacted_term = ? WHERE id = 1");
    this.updateConfState = db.prepare("UPDATE applied_state SET conf_state = ? WHERE id = 1");
    this.reload();
  }

  /** Re-reads every cached value from the database (at open, and after a snapshot install). */
  reload(): void {
    const hard = this.db.query("SELECT term, vote, commit_index FROM hard_state WHERE id = 1").get() as {
      term: number;
      vote: string;
      commit_index: number;
    } | null;
    const logState = this.db.query("SELECT compacted_index, compacted_term FROM log_state WHERE id = 1").get() as {
      compacted_index: number;
      compacted_term: number;
    } | null;
    assert(hard !== null && logState !== null, "hard_state or log_state row is missing");
    this.hard = { term: hard.term, vote: hard.vote, commit: hard.commit_index };
    this.compactedIndex = logState.compacted_index;
    this.compactedTerm = logState.compacted_term;
    this.segments.load();
    const bounds = this.segments.boundsAbove(this.compactedIndex);
    if (bounds.n === 0) {
      this.last = this.compactedIndex;
    } else {
      assert(
        bounds.lo === this.compactedIndex + 1 && bounds.hi! - bounds.lo + 1 === bounds.n,
        `log is not contiguous: ${bounds.n} entries in [${bounds.lo}, ${bounds.hi}], compacted through ${this.compactedIndex}`,
      );
      this.last = bounds.hi!;
    }
    const runs = this.readTermRuns(this.compactedIndex + 1, this.last);
    this.terms = TermRuns.fromRuns(runs, this.last);
    const firstTerm = runs[0]?.term;
    assert(firstTerm === undefined || firstTerm >= this.compactedTerm, `log term ${firstTerm} is below the compacted term ${this.compactedTerm}`);
    this.cache.clear();
    this.checkHardState(this.hard, this.last);
  }

  /**
   * Finds where each term starts by binary search over point lookups: terms
   * never decrease along a raft log, so this costs about (number of terms) x
   * log2(entries) seeks instead of reading the whole log at every open.
   */
  private readTermRuns(first: number, last: number): { term: number; start: number }[] {
    const lookup = (index: number): number => {
      const term = this.segments.termAt(index);
      assert(term !== undefined, `log entry ${index} is missing`);
      return term;
    };
    const runs: { term: number; start: number }[] = [];
    for (let start = first; start <= last; ) {
      const term = lookup(start);
      // Largest index in [start, last] still in `term`.
      let lo = start;
      let hi = last;
      while (lo < hi) {
        const mid = lo + Math.ceil((hi - lo) / 2);
        const midTerm = lookup(mid);
        assert(midTerm >= term, `log terms go backwards: entry ${mid} has term ${midTerm} after term ${term} at ${start}`);
        if (midTerm === term) lo = mid;
        else hi = mid - 1;
      }
      runs.push({ term, start });
      start = lo + 1;
    }
    return runs;
  }

  // ---- LogStorage: what the core reads ----

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hard }, confState: this.startingConf() };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo > this.compactedIndex, `entries from ${lo} were compacted (first index is ${this.firstIndex()})`);
    assert(lo <= hi && hi <= this.last + 1, `entries [${lo}, ${hi}) reach beyond the last index ${this.last}`);
    if (lo === hi) return [];
    const cached = this.cache.slice(lo, hi, maxBytes);
    if (cached !== undefined) return cached;
    const result: Entry[] = [];
    let used = 0;
    this.segments.read(lo, hi, (row: LogRow) => {
      assert(row.idx === lo + result.length, `log hole: expected index ${lo + result.length}, found ${row.idx}`);
      used += row.data.byteLength + 24;
      if (used > maxBytes && result.length > 0) return false;
      result.push({ index: row.idx, term: row.term, type: row.type === ENTRY_TYPE_CONF_CHANGE ? ENTRY_TYPE_CONF_CHANGE : ENTRY_TYPE_NORMAL, data: row.data });
      return true;
    });
    assert(result.length > 0, `entries [${lo}, ${hi}) are missing from the log`);
    return result;
  }

  term(index: number): number | undefined {
    if (index === this.compactedIndex) return this.compactedTerm;
    if (index < this.compactedIndex || index > this.last) return undefined;
    return this.terms.termAt(index);
  }

  firstIndex(): number {
    return this.compactedIndex + 1;
  }

  lastIndex(): number {
    return this.last;
  }

  snapshotMeta(): SnapshotMeta {
    return this.snapshots.newestMeta();
  }

  snapshotChunk(meta: SnapshotMeta, offset: number, maxBytes: number): { data: Uint8Array; done: boolean } {
    return this.snapshots.readChunk(meta, offset, maxBytes);
  }

  // ---- Writes ----

  hardState(): HardState {
    return { ...this.hard };
  }

  /** Index and term of the entry just before the first one in the log. */
  compacted(): { index: number; term: number } {
    return { index: this.compactedIndex, term: this.compactedTerm };
  }

  /**
   * Makes entries (replacing any conflicting suffix) and the hard state durable
   * in one transaction with one fsync. Throws, writing nothing, on a batch that
   * would break the log's invariants. False when there was nothing to write.
   */
  persist(input: PersistInput): boolean {
    const entries = input.entries;
    const plan = this.planAppend(entries);
    const hardState = input.hardState;
    const lastAfter = plan === undefined ? this.last : entries[entries.length - 1]!.index;
    if (hardState !== undefined) this.checkHardStateUpdate(hardState, lastAfter, entries);
    if (plan === undefined && hardState === undefined && input.confState === undefined) return false;

    this.inTransaction(input.sync ?? "full", () => {
      if (plan !== undefined) {
        if (plan.truncateFrom <= this.last) this.segments.deleteFrom(plan.truncateFrom);
        for (let i = plan.skip; i < entries.length; i++) {
          const entry = entries[i]!;
          this.segments.insert(entry.index, entry.term, entry.type, entry.data);
        }
      }
      if (hardState !== undefined) this.updateHardState.run(hardState.term, hardState.vote, hardState.commit);
      if (input.confState !== undefined) this.updateConfState.run(encodeConfState(input.confState));
    });

    // Durable: now the caches may say so.
    if (plan !== undefined) {
      if (plan.truncateFrom <= this.last) {
        this.terms.truncateFrom(plan.truncateFrom);
        this.cache.truncateFrom(plan.truncateFrom);
      }
      for (let i = plan.skip; i < entries.length; i++) this.terms.append(entries[i]!.index, entries[i]!.term);
      this.cache.append(entries, plan.skip);
      this.last = lastAfter;
    }
    if (hardState !== undefined) this.hard = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
    return true;
  }

  /** A write transaction; after a rollback the segment tables are read again (one may have been created or dropped in it). */
  private inTransaction(sync: "full" | "normal", fn: () => void): void {
    try {
      this.transactions.run(sync, fn);
    } catch (error) {
      if (!this.db.inTransaction) this.segments.load();
      throw error;
    }
  }

  /**
   * Checks a batch against the log; undefined when it adds nothing. Entries at
   * or below the compaction point are already covered by a snapshot and skipped.
   */
  private planAppend(entries: readonly Entry[]): { skip: number; truncateFrom: number } | undefined {
    if (entries.length === 0) return undefined;
    const first = entries[0]!.index;
    assert(first >= 1 && first <= this.last + 1, `append at index ${first} leaves a gap after the last index ${this.last}`);
    for (let i = 1; i < entries.length; i++) {
      const entry = entries[i]!;
      assert(entry.index === first + i, `appended entries are not contiguous: index ${entry.index} at position ${i} after ${first}`);
      assert(entry.term >= entries[i - 1]!.term, `appended entry ${entry.index} has term ${entry.term} below its predecessor's ${entries[i - 1]!.term}`);
    }
    const skip = Math.max(0, this.compactedIndex + 1 - first);
    if (skip >= entries.length) return undefined;
    const truncateFrom = first + skip;
    const previousTerm = this.term(truncateFrom - 1);
    assert(previousTerm !== undefined, `no term known for index ${truncateFrom - 1}`);
    assert(
      entries[skip]!.term >= previousTerm,
      `entry ${truncateFrom} has term ${entries[skip]!.term} below the preceding entry's term ${previousTerm}`,
    );
    // Raft never replaces a committed entry; the same entry written again is harmless.
    const lastAfter = first + entries.length - 1;
    const committedInLog = Math.min(this.hard.commit, this.last);
    assert(
      truncateFrom > committedInLog || lastAfter >= committedInLog,
      `append of [${truncateFrom}, ${lastAfter}] would truncate committed entries up to ${committedInLog}`,
    );
    for (let index = truncateFrom; index <= committedInLog; index++) {
      const incoming = entries[skip + index - truncateFrom];
      if (incoming === undefined) break;
      assert(
        incoming.term === this.term(index),
        `append would replace committed entry ${index} (term ${this.term(index)}) with term ${incoming.term}; commit is ${this.hard.commit}`,
      );
    }
    return { skip, truncateFrom };
  }

  private checkHardStateUpdate(next: HardState, lastAfter: number, entries: readonly Entry[]): void {
    const current = this.hard;
    assert(next.term >= current.term, `hard state term goes backwards: ${next.term} after ${current.term}`);
    assert(
      next.term > current.term || current.vote === "" || next.vote === current.vote,
      `vote changes within term ${next.term}: ${JSON.stringify(current.vote)} -> ${JSON.stringify(next.vote)}`,
    );
    assert(next.commit >= current.commit, `commit index goes backwards: ${next.commit} after ${current.commit}`);
    const lastEntry = entries[entries.length - 1];
    assert(lastEntry === undefined || lastEntry.term <= next.term, `entry ${lastEntry?.index} has term ${lastEntry?.term} above the hard state's term ${next.term}`);
    this.checkHardState(next, lastAfter);
  }

  private checkHardState(hard: HardState, lastIndex: number): void {
    assert(hard.commit <= lastIndex, `commit index ${hard.commit} is beyond the last log index ${lastIndex}`);
  }

  /**
   * Forgets the entries up to and including index; only what the newest
   * snapshot covers may go. Segment tables holding nothing after index are
   * dropped (see log-segments.ts); rows of the segment that straddles index
   * stay until it goes. Commits without its own fsync: losing it in a crash
   * only leaves entries a snapshot already covers, and the WAL makes it
   * durable no earlier than the snapshot record before it.
   */
  compact(index: number): void {
    if (index <= this.compactedIndex) return;
    const snapshotIndex = this.snapshots.newestMeta().index;
    assert(index <= snapshotIndex, `compact to ${index} goes beyond the newest snapshot at ${snapshotIndex}`);
    const term = this.term(index);
    assert(term !== undefined, `compact to ${index} goes beyond the last index ${this.last}`);
    this.inTransaction("normal", () => {
      this.segments.dropThrough(index);
      this.updateLogState.run(index, term);
    });
    this.compactedIndex = index;
    this.compactedTerm = term;
    this.terms.compactTo(index + 1);
    this.cache.compactTo(index + 1);
  }

  /**
   * Inside the transaction that records a snapshot this member took: its
   * index becomes durable as committed too. A member applies committed
   * entries as soon as they are durable here (RaftNode.durableCommittedEntries),
   * which can be before the hard state that carries their commit index is
   * written; without this a restart would find the newest snapshot beyond
   * the recorded commit index.
   */
  commitAtLeastInTransaction(index: number): void {
    assert(this.db.inTransaction, "commitAtLeastInTransaction outside a transaction");
    if (index <= this.hard.commit) return;
    assert(index <= this.last, `commit index ${index} is beyond the last log index ${this.last}`);
    this.updateHardState.run(this.hard.term, this.hard.vote, index);
    this.hard = { ...this.hard, commit: index };
  }

  /**
   * Inside a snapshot install transaction: the log keeps the entries after the
   * snapshot only if it holds the snapshot's own entry (same index and term);
   * otherwise it conflicts or is behind, and all of it goes. Call reload() after commit.
   */
  discardForSnapshotInTransaction(meta: SnapshotMeta): void {
    assert(this.db.inTransaction, "discardForSnapshotInTransaction outside a transaction");
    if (this.term(meta.index) === meta.term && meta.index <= this.last) this.segments.dropThrough(meta.index);
    else this.segments.dropAll();
    this.updateLogState.run(meta.index, meta.term);
    // The snapshot's entries are committed. Term and vote are the core's to
    // change; they arrive with the same Ready's hard state right after.
    this.updateHardState.run(this.hard.term, this.hard.vote, Math.max(this.hard.commit, meta.index));
  }
}
