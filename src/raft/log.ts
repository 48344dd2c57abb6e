// The replicated log as the core sees it: the durable part (LogStorage) plus
// the unstable tail, the commit index, and what has been handed out to apply.
// Promise: committed entries never change; `committed` never moves backwards.

import type { Entry, LogStorage, SnapshotMeta } from "./types";
import { Unstable } from "./unstable";
import { assert, entryBytes } from "./util";

export class RaftLog {
  readonly storage: LogStorage;
  readonly unstable: Unstable;
  /** Highest index known to be committed. */
  committed: number;
  /** Highest index handed out in a Ready for the application to apply. */
  applying: number;
  /** Highest index the application confirmed applied (advance()). */
  applied: number;

  constructor(storage: LogStorage, committed: number, applied: number) {
    this.storage = storage;
    this.unstable = new Unstable(storage.lastIndex() + 1);
    const snapshotIndex = storage.firstIndex() - 1;
    const last = storage.lastIndex();
    assert(committed <= last, `hard state commit ${committed} is beyond the last log index ${last}`);
    this.committed = Math.max(committed, snapshotIndex);
    const start = Math.max(applied, snapshotIndex);
    assert(start <= this.committed, `applied index ${start} is beyond the commit index ${this.committed}`);
    this.applying = start;
    this.applied = start;
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Term of the entry at index; undefined if compacted away or beyond the log. */
  term(index: number): number | undefined {
    const snapshot = this.unstable.snapshot;
    if (snapshot && index === snapshot.index) return snapshot.term;
    const first = this.firstIndex();
    if (index < first - 1 || index > this.lastIndex()) return undefined;
    if (index >= this.unstable.offset) return this.unstable.maybeTerm(index);
    return this.storage.term(index);
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    assert(term !== undefined, `term of the last index ${this.lastIndex()} is unknown`);
    return term;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Leader-side append of new entries at the end. */
  append(entries: Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const first = entries[0]!.index;
    assert(first - 1 >= this.committed, `append at ${first} would overwrite committed entry ${this.committed}`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /**
   * Follower-side append (AppendEntries receiver). Returns the index of the last
   * entry verified to match the leader, or undefined when prev does not match.
   * Truncates only at the first conflicting entry.
   */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, entries: Entry[]): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, `entry ${conflict} conflicts with the committed prefix (commit ${this.committed})`);
      const start = conflict - (prevIndex + 1);
      this.append(start === 0 ? entries : entries.slice(start));
    }
    this.commitTo(Math.min(leaderCommit, lastNew));
    return lastNew;
  }

  /** Index of the first entry that is new or whose term differs from ours; 0 if all match. */
  findConflict(entries: Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backoff: the largest index <= `index` whose term is <= `term` (or the
   * compaction point). Entries above it cannot match a log whose entry at
   * `index` has term `term`.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (;;) {
      const t = this.term(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term || i === 0) return { index: i, term: t };
      i--;
    }
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    assert(index <= this.lastIndex(), `commit ${index} is beyond the last index ${this.lastIndex()}`);
    this.committed = index;
    return true;
  }

  /** Entries in [lo, hi) up to maxBytes (at least one); undefined if lo was compacted. */
  entries(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    if (lo >= hi) return [];
    if (lo < this.firstIndex()) return undefined;
    assert(hi <= this.lastIndex() + 1, `entries [${lo}, ${hi}) beyond last index ${this.lastIndex()}`);
    const offset = this.unstable.offset;
    if (lo >= offset) return this.limitBytes(this.unstable.slice(lo, hi), maxBytes);
    const stableHi = Math.min(hi, offset);
    const stable = this.storage.entries(lo, stableHi, maxBytes);
    assert(stable.length > 0, `storage returned no entries for [${lo}, ${stableHi})`);
    if (stable.length < stableHi - lo || hi <= offset) return stable;
    let used = 0;
    for (const e of stable) used += entryBytes(e);
    const out = stable.slice();
    for (let i = offset; i < hi; i++) {
      const e = this.unstable.entries[i - offset]!;
      used += entryBytes(e);
      if (used > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  private limitBytes(entries: Entry[], maxBytes: number): Entry[] {
    let used = 0;
    for (let i = 0; i < entries.length; i++) {
      used += entryBytes(entries[i]!);
      if (used > maxBytes && i > 0) {
        entries.length = i;
        break;
      }
    }
    return entries;
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > this.applying && !this.unstable.snapshot;
  }

  /** Committed entries not yet handed out, up to maxBytes (at least one). */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    const lo = Math.max(this.applying + 1, this.firstIndex());
    const got = this.entries(lo, this.committed + 1, maxBytes);
    assert(got !== undefined, `committed entries from ${lo} were compacted before being applied`);
    return got;
  }

  appliedTo(index: number): void {
    assert(index <= this.committed, `applied ${index} beyond commit ${this.committed}`);
    if (index > this.applied) this.applied = index;
    if (index > this.applying) this.applying = index;
  }

  /** Install a snapshot received from the leader (follower side). */
  restore(meta: SnapshotMeta): void {
    const keepAfter = this.matchTerm(meta.index, meta.term);
    this.unstable.restore(meta, keepAfter);
    this.committed = Math.max(this.committed, meta.index);
    // The image replaces the state machine: nothing at or before it is applied again.
    this.applying = Math.max(this.applying, meta.index);
  }
}
