// The tail of the log that the driver has not yet persisted: entries from
// `offset` on (they override storage from that index) and possibly an incoming
// snapshot. Entries handed out in a Ready are "in progress" until advance().

import type { Entry, SnapshotMeta } from "./types";
import { assert } from "./util";

export class Unstable {
  /** Snapshot received from the leader and not yet installed by the driver. */
  snapshot: SnapshotMeta | undefined = undefined;
  snapshotInProgress = false;
  /** entries[i] has index offset + i. */
  entries: Entry[] = [];
  offset: number;
  /** Entries below this index were handed out in the outstanding Ready. */
  offsetInProgress: number;

  constructor(offset: number) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  /** Index of the first entry the unstable part knows of, if it has a snapshot. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.index + 1 : undefined;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    if (this.snapshot && this.offset === this.snapshot.index + 1) return this.snapshot.index;
    return undefined;
  }

  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      if (this.snapshot && this.snapshot.index === index) return this.snapshot.term;
      return undefined;
    }
    const entry = this.entries[index - this.offset];
    return entry === undefined ? undefined : entry.term;
  }

  /** Entries not yet handed out in a Ready (no copy when all of them are new). */
  nextEntries(): Entry[] {
    const start = this.offsetInProgress - this.offset;
    if (start >= this.entries.length) return [];
    return start === 0 ? this.entries.slice() : this.entries.slice(start);
  }

  hasNextEntries(): boolean {
    return this.offsetInProgress < this.offset + this.entries.length;
  }

  nextSnapshot(): SnapshotMeta | undefined {
    return this.snapshot && !this.snapshotInProgress ? this.snapshot : undefined;
  }

  acceptInProgress(): void {
    this.offsetInProgress = this.offset + this.entries.length;
    if (this.snapshot) this.snapshotInProgress = true;
  }

  /** The driver persisted entries up to (index, term); drop them from here. */
  stableTo(index: number, term: number): void {
    const have = this.maybeTerm(index);
    // A newer leader may have replaced the persisted entry meanwhile; the
    // replacement arrives in a later Ready and stabilises everything then.
    if (have === undefined || have !== term || index < this.offset) return;
    const dropped = index + 1 - this.offset;
    this.entries = dropped === this.entries.length ? [] : this.entries.slice(dropped);
    this.offset = index + 1;
    if (this.offsetInProgress < this.offset) this.offsetInProgress = this.offset;
  }

  stableSnapshotTo(index: number): void {
    if (this.snapshot && this.snapshot.index === index) {
      this.snapshot = undefined;
      this.snapshotInProgress = false;
    }
  }

  /**
   * Take a snapshot. `keepAfter`: the log holds the snapshot's last entry, so
   * the entries after it stay (stable ones in storage, unstable ones here).
   */
  restore(meta: SnapshotMeta, keepAfter: boolean): void {
    if (!keepAfter) {
      this.entries = [];
      this.offset = meta.index + 1;
    } else if (meta.index + 1 >= this.offset) {
      const drop = meta.index + 1 - this.offset;
      this.entries = drop >= this.entries.length ? [] : this.entries.slice(drop);
      this.offset = meta.index + 1;
    }
    // else: the snapshot's index is in stable storage; unstable entries stay.
    this.offsetInProgress = this.offset;
    this.snapshot = meta;
    this.snapshotInProgress = false;
  }

  /** Append after truncating any entries at or after the first new index. */
  truncateAndAppend(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    const end = this.offset + this.entries.length;
    if (first === end) {
      for (const e of entries) this.entries.push(e);
    } else if (first <= this.offset) {
      // Replaces everything unstable; the driver's append truncates storage too.
      this.offset = first;
      this.entries = entries.slice();
    } else {
      assert(first < end, `unstable append at ${first} leaves a gap after ${end - 1}`);
      this.entries = this.entries.slice(0, first - this.offset);
      for (const e of entries) this.entries.push(e);
    }
    if (this.offsetInProgress > first) this.offsetInProgress = first;
  }

  /** Entries in [lo, hi); the caller checked lo >= offset. */
  slice(lo: number, hi: number): Entry[] {
    assert(lo >= this.offset && hi <= this.offset + this.entries.length && lo <= hi, `unstable slice [${lo}, ${hi}) out of [${this.offset}, ${this.offset + this.entries.length})`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
