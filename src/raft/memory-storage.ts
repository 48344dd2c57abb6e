// An in-memory LogStorage for tests, the simulator and single-process use.
// The driver calls the mutators after each Ready; what they hold is exactly
// "what was persisted", so clone() is a crash: unpersisted state is gone.

import type { ConfState, Entry, HardState, LogStorage, SnapshotChunk, SnapshotMeta } from "./types";
import { assert, copyConfState, entryBytes, EMPTY_BYTES } from "./util";

function emptySnapshot(confState: ConfState): SnapshotMeta {
  return { index: 0, term: 0, confState: copyConfState(confState), sizeBytes: 0 };
}

interface StagedSnapshot {
  meta: SnapshotMeta;
  chunks: Uint8Array[];
  bytes: number;
  done: boolean;
}

export class MemoryStorage implements LogStorage {
  private hardState: HardState = { term: 0, vote: "", commit: 0 };
  private confState: ConfState;
  private snapshot: SnapshotMeta;
  private snapshotData: Uint8Array = EMPTY_BYTES;
  /** Log entries from compactedIndex + 1 on; compactedTerm is the term at compactedIndex. */
  private log: Entry[] = [];
  private compactedIndex = 0;
  private compactedTerm = 0;
  private staged: StagedSnapshot | undefined = undefined;

  /** A fresh single-node cluster bootstraps with `{ confState: { voters: [id], learners: [] } }`. */
  constructor(opts?: { confState?: Partial<ConfState> }) {
    this.confState = { voters: [...(opts?.confState?.voters ?? [])], learners: [...(opts?.confState?.learners ?? [])] };
    this.snapshot = emptySnapshot(this.confState);
  }

  // ---- LogStorage (what the core reads) ----

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: copyConfState(this.confState) };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo > this.compactedIndex, `entries from ${lo} were compacted (first index ${this.firstIndex()})`);
    assert(hi <= this.lastIndex() + 1 && lo <= hi, `entries [${lo}, ${hi}) beyond the last index ${this.lastIndex()}`);
    const start = lo - this.compactedIndex - 1;
    const end = hi - this.compactedIndex - 1;
    let used = 0;
    for (let i = start; i < end; i++) {
      used += entryBytes(this.log[i]!);
      if (used > maxBytes && i > start) return this.log.slice(start, i);
    }
    return this.log.slice(start, end);
  }

  term(index: number): number | undefined {
    if (index === this.compactedIndex) return this.compactedTerm;
    if (index < this.compactedIndex || index > this.lastIndex()) return undefined;
    return this.log[index - this.compactedIndex - 1]!.term;
  }

  firstIndex(): number {
    return this.compactedIndex + 1;
  }

  lastIndex(): number {
    return this.compactedIndex + this.log.length;
  }

  snapshotMeta(): SnapshotMeta {
    return { ...this.snapshot, confState: copyConfState(this.snapshot.confState) };
  }

  snapshotChunk(meta: SnapshotMeta, offset: number, maxBytes: number): { data: Uint8Array; done: boolean } {
    assert(meta.index === this.snapshot.index && meta.term === this.snapshot.term, `snapshot ${meta.index}/${meta.term} was replaced by ${this.snapshot.index}/${this.snapshot.term}`);
    assert(offset >= 0 && offset <= this.snapshotData.length, `snapshot offset ${offset} outside ${this.snapshotData.length} bytes`);
    const end = Math.min(this.snapshotData.length, offset + Math.max(1, maxBytes));
    return { data: this.snapshotData.subarray(offset, end), done: end >= this.snapshotData.length };
  }

  // ---- Mutators the driver calls after each Ready ----

  /** Append entries; an entry at an existing index replaces it and everything after it. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    assert(first <= this.lastIndex() + 1, `append at ${first} leaves a gap after ${this.lastIndex()}`);
    for (let i = 1; i < entries.length; i++) {
      assert(entries[i]!.index === first + i, `appended entries are not contiguous at ${first + i}`);
    }
    // Entries at or below the compaction point are already covered.
    const skip = Math.max(0, this.compactedIndex + 1 - first);
    if (skip >= entries.length) return;
    const keep = first + skip - this.compactedIndex - 1;
    if (keep < this.log.length) this.log.length = keep;
    for (let i = skip; i < entries.length; i++) this.log.push(entries[i]!);
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  setConfState(cs: ConfState): void {
    this.confState = copyConfState(cs);
  }

  /** Stage one chunk of an incoming snapshot; offset 0 starts a new image. */
  writeSnapshotChunk(chunk: SnapshotChunk): void {
    if (chunk.offset === 0) {
      this.staged = { meta: chunk.meta, chunks: [], bytes: 0, done: false };
    }
    const staged = this.staged;
    assert(staged !== undefined, `snapshot chunk at offset ${chunk.offset} without a staged image`);
    assert(staged.meta.index === chunk.meta.index && staged.meta.term === chunk.meta.term, `chunk for snapshot ${chunk.meta.index} while staging ${staged.meta.index}`);
    assert(chunk.offset === staged.bytes, `snapshot chunk at offset ${chunk.offset}, expected ${staged.bytes}`);
    staged.chunks.push(chunk.data.slice());
    staged.bytes += chunk.data.length;
    staged.done = chunk.done;
  }

  /**
   * Install the staged image: it becomes the newest snapshot; the log after it
   * survives only if the log holds the snapshot's own entry (same index+term).
   */
  installSnapshot(meta: SnapshotMeta): void {
    const staged = this.staged;
    assert(staged !== undefined && staged.done, `install of snapshot ${meta.index} before all its chunks were staged`);
    assert(staged.meta.index === meta.index && staged.meta.term === meta.term, `install of snapshot ${meta.index} while ${staged.meta.index} is staged`);
    const data = new Uint8Array(staged.bytes);
    let at = 0;
    for (const c of staged.chunks) {
      data.set(c, at);
      at += c.length;
    }
    this.staged = undefined;
    if (this.term(meta.index) === meta.term) {
      this.log = this.log.slice(meta.index - this.compactedIndex);
    } else {
      this.log = [];
    }
    this.compactedIndex = meta.index;
    this.compactedTerm = meta.term;
    this.snapshot = { ...meta, confState: copyConfState(meta.confState), sizeBytes: data.length };
    this.snapshotData = data;
    this.confState = copyConfState(meta.confState);
    if (this.hardState.commit < meta.index) this.hardState = { ...this.hardState, commit: meta.index };
  }

  /** The application's snapshot of its state as of `index` (<= applied). Does not compact. */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): SnapshotMeta {
    assert(index > this.snapshot.index, `snapshot at ${index} is not newer than ${this.snapshot.index}`);
    assert(index <= this.hardState.commit, `snapshot at ${index} beyond the persisted commit ${this.hardState.commit}`);
    const term = this.term(index);
    assert(term !== undefined, `snapshot at ${index}: entry was compacted or is missing`);
    this.snapshot = { index, term, confState: copyConfState(confState), sizeBytes: data.length };
    this.snapshotData = data.slice();
    return this.snapshotMeta();
  }

  /** Drop the log up to and including index; only entries a snapshot covers may go. */
  compact(index: number): void {
    if (index <= this.compactedIndex) return;
    assert(index <= this.snapshot.index, `compact to ${index} beyond the snapshot at ${this.snapshot.index}`);
    const term = this.term(index);
    assert(term !== undefined, `compact to ${index}: beyond the last index ${this.lastIndex()}`);
    this.log = this.log.slice(index - this.compactedIndex);
    this.compactedIndex = index;
    this.compactedTerm = term;
  }

  /** What a process restarted from this storage would find (entries are immutable and shared). */
  clone(): MemoryStorage {
    const c = new MemoryStorage({ confState: this.confState });
    c.hardState = { ...this.hardState };
    c.snapshot = this.snapshotMeta();
    c.snapshotData = this.snapshotData;
    c.log = this.log.slice();
    c.compactedIndex = this.compactedIndex;
    c.compactedTerm = this.compactedTerm;
    c.staged = this.staged ? { ...this.staged, meta: this.staged.meta, chunks: this.staged.chunks.slice() } : undefined;
    return c;
  }

  /** The newest snapshot's image (for the application to load after installSnapshot). */
  snapshotImage(): Uint8Array {
    return this.snapshotData;
  }
}
