// The newest log entries, kept in memory so a leader replicating what it just
// appended (the hot path) reads no SQLite. Bounded in bytes and in count; the
// entries are the caller's own objects (no copies), which the core never mutates.

import type { Entry } from "../raft/types";
import { assert } from "./errors";

/** Per-entry cost on top of its payload (index, term, type, object header); matches the core's accounting. */
export const ENTRY_OVERHEAD_BYTES = 24;

/**
 * Bytes an entry keeps alive. A payload decoded from a network frame is a view
 * into the whole frame (never at offset 0: the frame's header comes first), so
 * the frame's buffer is what caching it really costs. A payload at offset 0 is
 * taken as its own bytes: reading `.buffer` of a small typed array that has
 * none yet makes JavaScriptCore create one, a separately freed object per
 * entry, and finalizing those lengthened the leader's GC pauses to 30-48 ms.
 */
export function retainedBytes(entry: Entry): number {
  const data = entry.data;
  const payload = data.byteOffset > 0 ? Math.max(data.buffer.byteLength, data.byteLength) : data.byteLength;
  return payload + ENTRY_OVERHEAD_BYTES;
}

/** What an evicted slot holds until it is spliced out. */
const EVICTED: Entry = Object.freeze({ index: 0, term: 0, type: 0, data: new Uint8Array(0) });

export class EntryCache {
  private entries: Entry[] = [];
  /** entries[head] is the oldest live entry; evicted ones before it are spliced out lazily. */
  private head = 0;
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly maxEntries: number,
  ) {
    assert(maxBytes > 0 && maxEntries > 0, "entry cache limits must be positive");
  }

  /** Index of the oldest cached entry, or undefined when empty. */
  firstIndex(): number | undefined {
    return this.head < this.entries.length ? this.entries[this.head]!.index : undefined;
  }

  private nextIndex(): number | undefined {
    const last = this.entries[this.entries.length - 1];
    return this.head < this.entries.length ? last!.index + 1 : undefined;
  }

  /** Add entries that were just made durable; they follow the cached ones or start a new run. */
  append(batch: readonly Entry[], from: number): void {
    if (from >= batch.length) return;
    const firstNew = batch[from]!.index;
    const next = this.nextIndex();
    if (next !== undefined && firstNew !== next) {
      // A conflicting suffix was replaced, or the cache was behind: keep only what still precedes firstNew.
      this.truncateFrom(firstNew);
      if (this.nextIndex() !== firstNew) this.clear();
    }
    for (let i = from; i < batch.length; i++) {
      const entry = batch[i]!;
      this.entries.push(entry);
      this.bytes += retainedBytes(entry);
    }
    this.evict();
  }

  truncateFrom(index: number): void {
    while (this.entries.length > this.head && this.entries[this.entries.length - 1]!.index >= index) {
      this.bytes -= retainedBytes(this.entries.pop()!);
    }
    if (this.entries.length === this.head) this.clear();
  }

  /** Drop entries below firstIndex (compacted). */
  compactTo(firstIndex: number): void {
    while (this.head < this.entries.length && this.entries[this.head]!.index < firstIndex) {
      this.bytes -= retainedBytes(this.entries[this.head]!);
      this.release(this.head++);
    }
    this.tidy();
  }

  clear(): void {
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
  }

  /** Entries in [lo, hi) within maxBytes (at least one), or undefined when lo is not cached. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    const first = this.firstIndex();
    if (first === undefined || lo < first) return undefined;
    const next = this.nextIndex()!;
    if (hi > next) return undefined;
    const start = this.head + (lo - first);
    const end = this.head + (hi - first);
    let used = 0;
    for (let i = start; i < end; i++) {
      used += this.entries[i]!.data.byteLength + ENTRY_OVERHEAD_BYTES;
      if (used > maxBytes && i > start) return this.entries.slice(start, i);
    }
    return this.entries.slice(start, end);
  }

  private evict(): void {
    while (this.entries.length - this.head > 0 && (this.bytes > this.maxBytes || this.entries.length - this.head > this.maxEntries)) {
      this.bytes -= retainedBytes(this.entries[this.head]!);
      this.release(this.head++);
    }
    this.tidy();
  }

  /**
   * An evicted slot stays in the array until tidy() splices it out; it must
   * not keep its entry alive meanwhile (up to half the array: ~8,000 more
   * entries held on a busy leader, objects every full collection marked).
   */
  private release(slot: number): void {
    this.entries[slot] = EVICTED;
  }

  /** Splice out evicted slots once they dominate the array, so eviction stays O(1) amortized. */
  private tidy(): void {
    if (this.head === this.entries.length) {
      this.clear();
    } else if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
