// The leader's view of one peer: how much of the log it holds (match), what to
// send next, and the flow-control state (probe: one Append per heartbeat until
// the peer's position is known; replicate: pipelined Appends inside a window;
// snapshot: the peer needs a snapshot and receives it chunk by chunk).

import type { NodeId, ProgressState, SnapshotMeta } from "./types";
import { assert } from "./util";

/** Ring buffer of the last index of each Append in flight to one peer. */
export class Inflights {
  private readonly buffer: number[];
  private start = 0;
  count = 0;

  constructor(readonly capacity: number) {
    assert(capacity > 0, `in-flight window must hold at least one Append (got ${capacity})`);
    this.buffer = new Array<number>(capacity).fill(0);
  }

  add(lastIndex: number): void {
    assert(!this.full(), `in-flight window of ${this.capacity} Appends overflowed`);
    this.buffer[(this.start + this.count) % this.capacity] = lastIndex;
    this.count++;
  }

  /** Acknowledge every Append whose last index is <= index. */
  freeLE(index: number): void {
    while (this.count > 0 && this.buffer[this.start]! <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}

/**
 * Ticks before an unacknowledged snapshot chunk is resent: half an election
 * timeout, and never less than two heartbeats (a round trip must fit).
 */
export function snapshotChunkResendTicks(electionTicks: number, heartbeatTicks: number): number {
  return Math.max(2 * heartbeatTicks, Math.ceil(electionTicks / 2));
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  /** Probe: an Append was sent and is unanswered (pauses until a response or heartbeat). */
  probeSent = false;
  /** Heard from this peer within the current check-quorum window. */
  recentActive = false;
  readonly inflights: Inflights;
  /** Snapshot state: the image being sent, the next byte to send, whether a chunk is unanswered. */
  snapshot: SnapshotMeta | undefined = undefined;
  snapshotOffset = 0;
  snapshotChunkInFlight = false;
  snapshotTicksSinceSend = 0;

  constructor(
    readonly id: NodeId,
    next: number,
    maxInflightAppends: number,
    public isLearner: boolean,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflightAppends);
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.inflights.reset();
    this.snapshot = undefined;
    this.snapshotOffset = 0;
    this.snapshotChunkInFlight = false;
    this.snapshotTicksSinceSend = 0;
  }

  becomeProbe(): void {
    const leavingSnapshot = this.state === "snapshot" ? this.snapshot : undefined;
    this.resetState("probe");
    // After a snapshot the peer holds at least the snapshot's index.
    this.next = leavingSnapshot ? Math.max(this.match + 1, leavingSnapshot.index + 1) : this.match + 1;
  }

  becomeReplicate(): void {
    this.resetState("replicate");
    this.next = this.match + 1;
  }

  becomeSnapshot(meta: SnapshotMeta): void {
    this.resetState("snapshot");
    this.snapshot = meta;
  }

  /** An Append up to lastIndex was sent. */
  sentEntries(lastIndex: number): void {
    if (this.state === "replicate") {
      this.next = lastIndex + 1;
      this.inflights.add(lastIndex);
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }

  /** An AppendResponse accepted up to index; returns whether match moved. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  /**
   * An AppendResponse rejected the Append at `rejected`; `hint` is where the
   * peer's log may match. Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }
}
