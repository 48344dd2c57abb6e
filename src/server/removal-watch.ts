// How a member finds out that it must leave: it was removed from the cluster,
// or it lost entries it had acknowledged. It then stops (as etcd's does)
// instead of lingering with stale reads and passing writes on as if it still
// belonged. The leader stops replicating to a removed member, so it may never
// see its removal commit: it learns it either from its own log or from the
// members it still sends raft messages to (the Removed frame).
import { MessageType, type LostLog, type Message } from "../raft/index.ts";
import type { Logger } from "./logger.ts";

export interface RemovalWatchOptions {
  self: string;
  dataDir: string;
  electionTimeoutMs: number;
  log: Logger;
  /** The member was removed or lost its log; the process should end with `reason` as its last word. */
  onRemoved?: (reason: string) => void;
  /** A member that is stopping anyway says nothing more. */
  isStopping: () => boolean;
  /** Milliseconds on a monotonic clock (tests pass their own). */
  now?: () => number;
}

export class RemovalWatch {
  /** Members removed from the cluster: tombstones of members not in the applied configuration. */
  private removed = new Set<string>();
  private reported = false;
  /** When a leader last sent this member entries, a heartbeat or a snapshot. */
  private lastLeaderContactMs: number;
  private readonly now: () => number;

  constructor(private readonly o: RemovalWatchOptions) {
    this.now = o.now ?? (() => performance.now());
    this.lastLeaderContactMs = this.now();
  }

  /** The tombstones as of the applied state, minus members in the configuration again (added back under their name). */
  update(removed: Set<string>): void {
    this.removed = removed;
  }

  isRemoved(id: string): boolean {
    return this.removed.has(id);
  }

  /** Every raft message that reaches this member. */
  noteMessage(message: Message): void {
    if (message.type === MessageType.Append || message.type === MessageType.Heartbeat || message.type === MessageType.Snapshot) {
      this.lastLeaderContactMs = this.now();
    }
  }

  /** The member starts talking to its peers: the wait for a leader's word starts now. */
  started(): void {
    this.lastLeaderContactMs = this.now();
  }

  /**
   * On every tick. Its own tombstone is the last word only if no leader sends
   * it more: a member added back under its name replays its removal on the
   * way to its re-adding, entries that a leader is still sending.
   */
  tick(): void {
    if (!this.removed.has(this.o.self) || this.heardFromLeaderWithin(2 * this.o.electionTimeoutMs)) return;
    this.report("its removal is in its own log, and no leader has contacted it since");
  }

  /**
   * A peer's Removed frame about this member. Only a member of this one's
   * configuration is believed (with TLS, one holding that member's
   * certificate), and only while no leader talks to this one: a member that
   * lags behind its re-adding may still say so.
   */
  toldBy(from: string, fromIsMember: boolean): void {
    if (!fromIsMember || this.heardFromLeaderWithin(this.o.electionTimeoutMs)) return;
    this.report(`member ${from} says so`);
  }

  /**
   * The raft core found that entries this member acknowledged are gone (its
   * data dir wiped, replaced or rolled back): it no longer votes, and as a
   * voter it only pretends to count. etcd stops such a member too ("Was the
   * raft log corrupted, truncated, or lost?").
   */
  lostLog(lost: LostLog): void {
    const { self } = this.o;
    this.stop(
      `this member's raft log ends at index ${lost.lastIndex}, but the leader ${lost.leader} knows it had acknowledged entries up to ${lost.acknowledged}: ` +
        `its data dir was wiped, replaced or rolled back, and it must not vote; stopping. ` +
        `Remove it (dkv member remove ${self}), add it back (dkv member add), and start it with an empty --data-dir`,
    );
  }

  private heardFromLeaderWithin(ms: number): boolean {
    return this.now() - this.lastLeaderContactMs < ms;
  }

  /** Its data dir is not used again either, as with etcd: a member added back starts from an empty one. */
  private report(how: string): void {
    const { self, dataDir } = this.o;
    this.stop(
      `this member (${self}) was removed from the cluster (${how}); stopping. ` +
        `To add it back: dkv member add, then start it with an empty --data-dir (delete ${dataDir} first)`,
    );
  }

  private stop(reason: string): void {
    if (this.reported || this.o.isStopping()) return;
    this.reported = true;
    this.o.log.error(reason);
    this.o.onRemoved?.(reason);
  }
}
