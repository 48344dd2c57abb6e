// The log exactly as a node's driver persisted it (following the Ready
// contract), kept independently of the core's MemoryStorage: the checkers
// read this, and the driver compares it with the storage the core reads.

import type { Entry } from "../../src/raft/types";
import { entryDigest } from "./digest";

export interface ShadowEntry {
  term: number;
  digest: number;
}

/** What the checkers need to know about one node's log. */
export interface LogView {
  /** Index and term of the last entry covered by the node's snapshot (0 when none). */
  readonly snapshotIndex: number;
  readonly snapshotTerm: number;
  lastIndex(): number;
  /** Term at index: the snapshot's term at snapshotIndex, undefined if compacted or beyond the log. */
  term(index: number): number | undefined;
  /** Content digest of the entry at index, undefined if not in the log (compacted or beyond). */
  digest(index: number): number | undefined;
}

export class ShadowLog implements LogView {
  snapshotIndex = 0;
  snapshotTerm = 0;
  /** entries[k] is at index snapshotIndex + 1 + k. */
  private entries: ShadowEntry[] = [];

  lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  term(index: number): number | undefined {
    if (index === this.snapshotIndex) return this.snapshotTerm;
    return this.entries[index - this.snapshotIndex - 1]?.term;
  }

  digest(index: number): number | undefined {
    return this.entries[index - this.snapshotIndex - 1]?.digest;
  }

  /** Append following the contract: an entry at an existing index replaces it and everything after it. */
  append(newEntries: readonly Entry[]): void {
    if (newEntries.length === 0) return;
    const first = newEntries[0] as Entry;
    if (first.index > this.lastIndex() + 1) {
      throw new Error(`shadow log: append at index ${first.index} leaves a gap after last index ${this.lastIndex()}`);
    }
    for (let k = 0; k < newEntries.length; k++) {
      const entry = newEntries[k] as Entry;
      if (entry.index !== first.index + k) {
        throw new Error(`shadow log: entries not contiguous at ${first.index + k} (got ${entry.index})`);
      }
    }
    // Entries at or below the snapshot are already covered by it (as MemoryStorage does).
    const skip = Math.max(0, this.snapshotIndex + 1 - first.index);
    if (skip >= newEntries.length) return;
    this.entries.length = first.index + skip - this.snapshotIndex - 1;
    for (let k = skip; k < newEntries.length; k++) {
      const entry = newEntries[k] as Entry;
      this.entries.push({ term: entry.term, digest: entryDigest(entry.type, entry.data) });
    }
  }

  /** Install a snapshot: keep the entries after it only if the log has the snapshot's last entry. */
  installSnapshot(index: number, term: number): void {
    if (this.term(index) === term && index >= this.snapshotIndex) {
      this.entries = this.entries.slice(index - this.snapshotIndex);
    } else {
      this.entries = [];
    }
    this.snapshotIndex = index;
    this.snapshotTerm = term;
  }

  /** Drop entries up to and including index (they are covered by a snapshot). */
  compact(index: number): void {
    if (index <= this.snapshotIndex) return;
    if (index > this.lastIndex()) throw new Error(`shadow log: compact(${index}) beyond last index ${this.lastIndex()}`);
    const term = this.term(index) as number;
    this.entries = this.entries.slice(index - this.snapshotIndex);
    this.snapshotIndex = index;
    this.snapshotTerm = term;
  }

  clone(): ShadowLog {
    const copy = new ShadowLog();
    copy.snapshotIndex = this.snapshotIndex;
    copy.snapshotTerm = this.snapshotTerm;
    copy.entries = this.entries.slice();
    return copy;
  }
}
