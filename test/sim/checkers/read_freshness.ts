// Read freshness (dissertation §6.4): a ReadIndex read returns a state at
// least as new as every write acknowledged before the read began. A write is
// acknowledged once any node has applied it. At the start of a read we record
// the newest acknowledged write to the key and the newest applied index
// anywhere; the served value and read point must not be older.

import type { NodeId } from "../../../src/raft/types";
import { Violation } from "./violation";

interface PendingRead {
  node: NodeId;
  key: string;
  /** Log index of the newest acknowledged write to `key` when the read began (0: none). */
  keyWriteIndexMin: number;
  /** Newest index applied anywhere when the read began. */
  appliedIndexMin: number;
}

/** Reads older than this many are forgotten (their client gave up long ago). */
export const PENDING_READS_MAX = 1024;

export class ReadFreshness {
  private readonly newestWriteByKey = new Map<string, number>();
  private newestApplied = 0;
  private readonly pending = new Map<number, PendingRead>();
  servedCount = 0;

  /** Some node applied the entry at `index`; `key` is set when it was a write to that key. */
  observeApplied(index: number, key: string | undefined): void {
    if (index > this.newestApplied) this.newestApplied = index;
    if (key !== undefined && index > (this.newestWriteByKey.get(key) ?? 0)) this.newestWriteByKey.set(key, index);
  }

  beginRead(readId: number, node: NodeId, key: string): void {
    if (this.pending.size >= PENDING_READS_MAX) {
      const oldest = this.pending.keys().next().value as number;
      this.pending.delete(oldest);
    }
    this.pending.set(readId, {
      node,
      key,
      keyWriteIndexMin: this.newestWriteByKey.get(key) ?? 0,
      appliedIndexMin: this.newestApplied,
    });
  }

  /**
   * The read `readId` was served at read point `readIndex` with the value
   * written at log index `valueWriteIndex` (0: the key was absent).
   */
  serveRead(readId: number, readIndex: number, valueWriteIndex: number): void {
    const read = this.pending.get(readId);
    if (read === undefined) return; // forgotten, or answered twice (a duplicate ReadState)
    this.pending.delete(readId);
    this.servedCount++;
    if (readIndex < read.appliedIndexMin) {
      throw new Violation(
        "read freshness",
        `read ${readId} of "${read.key}" on ${read.node} got read index ${readIndex}, ` +
          `but index ${read.appliedIndexMin} was already applied (acknowledged) when the read began`,
      );
    }
    if (valueWriteIndex < read.keyWriteIndexMin) {
      throw new Violation(
        "read freshness",
        `read ${readId} of "${read.key}" on ${read.node} returned the value written at index ${valueWriteIndex}, ` +
          `older than the write at index ${read.keyWriteIndexMin} acknowledged before the read began`,
      );
    }
  }

  abandonRead(readId: number): void {
    this.pending.delete(readId);
  }
}
