// Watches: the changes this member applies, handed to every watcher whose key
// or prefix they touch, in revision order. Recent changes are kept (a bounded
// history) so a watch may start at a revision already applied - typically
// the revision of a get or list answer plus one, so nothing between the read
// and the watch is missed. A watcher that falls too far behind, or whose
// member replaces its state with a snapshot from the leader (the changes in
// between were never applied here one by one), is ended with an error that
// says where to start again.
import type { ApplyResult, KeyValue } from "../storage/index.ts";
import type { CancelSignal } from "./cancel-signal.ts";
import { NodeError, type ResponseHeader, type WatchBatch, type WatchEvent, type WatchQuery } from "./contract.ts";
import { RESERVED_KEY_PREFIX } from "./members.ts";
import { compareKeys } from "../storage/key-order.ts";

export interface WatchFilter {
  key: string;
  /** Every key starting with `key` ("" = all keys). */
  prefix: boolean;
  /** Also report each key as it was before the change (etcd's prev_kv). */
  prevKv?: boolean;
  /** Keys in [key, rangeEnd) instead (prefix false). */
  rangeEnd?: string;
  /** Leave out puts, or deletes (etcd's NOPUT and NODELETE filters). */
  noPut?: boolean;
  noDelete?: boolean;
}

export interface WatchLimits {
  /** Changes kept for watches that start in the past. */
  historyEvents: number;
  /** ...and at most this many bytes of keys and values among them. */
  historyBytes: number;
  /** Changes a watcher may have waiting before it is ended as too slow. */
  queuedEvents: number;
  /**
   * ...and bytes of keys and values among them. The queue holds values the
   * state may have overwritten since: a watcher that never reads must not
   * keep 100,000 large values alive.
   */
  queuedBytes: number;
}

export const DEFAULT_WATCH_LIMITS: WatchLimits = { historyEvents: 10_000, historyBytes: 64 * 1024 * 1024, queuedEvents: 100_000, queuedBytes: 64 * 1024 * 1024 };

const NO_VALUE = new Uint8Array(0);

/**
 * The changes a batch of applied entries made, in order, as the keys after
 * them; a delete is a key with version 0 (a stored key has version 1 or more)
 * and modRevision = the revision of the delete. Failed compare-and-swaps and
 * deletes of absent keys change nothing, and member records are not keys
 * of the user's. Puts add no object: the history holds the very KeyValue
 * the state holds. `previousInto` gets, for each change, the key before it
 * (undefined: it did not exist).
 */
export function changesOf(results: readonly ApplyResult[], into: KeyValue[] = [], previousInto: Array<KeyValue | undefined> = []): KeyValue[] {
  // Member records live under reserved keys no client can write or list: no watcher sees them either.
  const add = (change: KeyValue, previous: KeyValue | undefined): void => {
    if (change.key.startsWith(RESERVED_KEY_PREFIX)) return;
    into.push(change);
    previousInto.push(previous);
  };
  for (const result of results) {
    switch (result.kind) {
      case "put":
        add(result.kv, result.previous);
        break;
      case "delete":
        if (result.deleted) add(deletion(result.key, result.index), result.previous);
        break;
      case "compareAndSwap":
        if (!result.succeeded) break;
        if (result.kv !== undefined) add(result.kv, result.previous);
        else if (result.previous !== undefined) add(deletion(result.previous.key, result.index), result.previous);
        break;
      case "txn":
        // In op order, all at the transaction's revision.
        for (const change of result.changes) add(change.kv ?? deletion(change.key, result.index), change.previous);
        break;
      case "deleteRange":
      case "leaseRevoke":
        // One revision for every key deleted together, as etcd reports a range delete or a revoke.
        for (const previous of result.deleted) add(deletion(previous.key, result.index), previous);
        break;
    }
  }
  return into;
}

export function toEvent(change: KeyValue, previous?: KeyValue): WatchEvent {
  const event: WatchEvent = { type: change.version === 0 ? "delete" : "put", kv: change };
  if (previous !== undefined) event.prevKv = previous;
  return event;
}

function deletion(key: string, revision: number): KeyValue {
  return { key, value: NO_VALUE, createRevision: 0, modRevision: revision, version: 0, lease: 0 };
}

function matches(filter: WatchFilter, change: KeyValue): boolean {
  if (change.version === 0 ? filter.noDelete === true : filter.noPut === true) return false;
  const key = change.key;
  if (filter.prefix) return key.startsWith(filter.key);
  if (filter.rangeEnd !== undefined && filter.rangeEnd !== "") return compareKeys(key, filter.key) >= 0 && compareKeys(key, filter.rangeEnd) < 0;
  return key === filter.key;
}

function bytesOf(change: KeyValue, previous: KeyValue | undefined): number {
  return change.key.length + change.value.byteLength + (previous === undefined ? 0 : previous.value.byteLength);
}

export interface WatchStreamOptions {
  /** The member's applied revision now. */
  applied: number;
  header(revision?: number): ResponseHeader;
  /** A message without events after this long without changes. */
  keepaliveMs: number;
  signal?: CancelSignal;
}

/**
 * A watch as a stream of batches. The watcher is registered before this
 * returns (a change applied right after is not missed); the first batch has
 * no events and says from which revision on changes follow.
 */
export function streamWatch(hub: WatchHub, query: WatchQuery, options: WatchStreamOptions): AsyncIterable<WatchBatch> {
  const filter: WatchFilter = { key: query.key, prefix: query.prefix, prevKv: query.prevKv === true, rangeEnd: query.rangeEnd ?? "", noPut: query.noPut === true, noDelete: query.noDelete === true };
  const watcher = hub.watch(filter, query.startRevision, options.applied);
  const { signal } = options;
  // Also when the stream is dropped before it is read: the client going away ends the watcher.
  const closeWatcher = (): void => watcher.close();
  signal?.addEventListener("abort", closeWatcher);
  return (async function* batches(): AsyncGenerator<WatchBatch> {
    try {
      yield { events: [], header: options.header(query.startRevision === 0 ? options.applied : query.startRevision - 1) };
      while (!signal?.aborted) {
        const events = await watcher.next(options.keepaliveMs, signal);
        if (signal?.aborted) return;
        yield { events, header: options.header(events.length > 0 ? events[events.length - 1]!.kv.modRevision : undefined) };
      }
    } finally {
      signal?.removeEventListener("abort", closeWatcher);
      watcher.close();
    }
  })();
}

export class WatchHub {
  /** A ring of the newest changes: `size` of them, the oldest at `head`; `previousRing` holds each one's key before it. */
  private ring: (KeyValue | undefined)[];
  private previousRing: (KeyValue | undefined)[];
  private head = 0;
  private size = 0;
  private historyBytes = 0;
  /** Every change from this revision on is in the history. */
  private completeFrom: number;
  private readonly watchers = new Set<Watcher>();
  private readonly scratch: KeyValue[] = [];
  private readonly scratchPrevious: Array<KeyValue | undefined> = [];

  constructor(
    nextRevision: number,
    private readonly limits: WatchLimits = DEFAULT_WATCH_LIMITS,
  ) {
    this.completeFrom = nextRevision;
    this.ring = new Array(limits.historyEvents);
    this.previousRing = new Array(limits.historyEvents);
  }

  get watching(): number {
    return this.watchers.size;
  }

  /** The oldest revision a watch may start at. */
  get oldestRevision(): number {
    return this.completeFrom;
  }

  /** The results of one apply round, in order. */
  publish(results: readonly ApplyResult[]): void {
    const previous = this.scratchPrevious;
    const changes = changesOf(results, this.scratch, previous);
    if (changes.length === 0) return;
    for (let i = 0; i < changes.length; i++) this.remember(changes[i]!, previous[i]);
    for (const watcher of this.watchers) watcher.offer(changes, previous);
    changes.length = 0;
    previous.length = 0;
  }

  /**
   * A watcher of `filter` from startRevision (0: after appliedRevision). Throws
   * failed_precondition when that revision has left the history.
   */
  watch(filter: WatchFilter, startRevision: number, appliedRevision: number): Watcher {
    const from = startRevision === 0 ? appliedRevision + 1 : startRevision;
    if (from < this.completeFrom) {
      throw new NodeError(
        "failed_precondition",
        `revision ${from} is older than this member's watch history, which starts at revision ${this.completeFrom}: read the keys again (get or list) and watch from that answer's revision plus one`,
      );
    }
    const watcher = new Watcher(filter, from, { events: this.limits.queuedEvents, bytes: this.limits.queuedBytes }, (w) => this.watchers.delete(w));
    const history = this.historyFrom(from);
    watcher.offer(history.changes, history.previous);
    this.watchers.add(watcher);
    return watcher;
  }

  /** The state was replaced by a snapshot: the changes before it were not applied here one by one. */
  reset(nextRevision: number, reason: string): void {
    this.ring = new Array(this.limits.historyEvents);
    this.previousRing = new Array(this.limits.historyEvents);
    this.head = 0;
    this.size = 0;
    this.historyBytes = 0;
    this.completeFrom = nextRevision;
    this.endAll(reason);
  }

  /** Ends every watcher (the member stops). */
  endAll(reason: string): void {
    for (const watcher of this.watchers) watcher.fail(new NodeError("unavailable", reason));
    this.watchers.clear();
  }

  private historyFrom(revision: number): { changes: KeyValue[]; previous: Array<KeyValue | undefined> } {
    const changes: KeyValue[] = [];
    const previous: Array<KeyValue | undefined> = [];
    for (let i = 0; i < this.size; i++) {
      const at = (this.head + i) % this.ring.length;
      const change = this.ring[at]!;
      if (change.modRevision >= revision) {
        changes.push(change);
        previous.push(this.previousRing[at]);
      }
    }
    return { changes, previous };
  }

  private remember(change: KeyValue, previous: KeyValue | undefined): void {
    const capacity = this.ring.length;
    if (capacity === 0) {
      this.completeFrom = change.modRevision + 1;
      return;
    }
    if (this.size === capacity) this.dropOldest();
    const at = (this.head + this.size) % capacity;
    this.ring[at] = change;
    this.previousRing[at] = previous;
    this.size++;
    this.historyBytes += bytesOf(change, previous);
    while (this.historyBytes > this.limits.historyBytes && this.size > 0) this.dropOldest();
  }

  private dropOldest(): void {
    const oldest = this.ring[this.head]!;
    const oldestPrevious = this.previousRing[this.head];
    this.ring[this.head] = undefined;
    this.previousRing[this.head] = undefined;
    this.head = (this.head + 1) % this.ring.length;
    this.size--;
    this.historyBytes -= bytesOf(oldest, oldestPrevious);
    this.completeFrom = oldest.modRevision + 1;
  }
}

export class Watcher {
  private queue: KeyValue[] = [];
  /** Parallel to queue, only for a watcher that asked for prev_kv. */
  private previousQueue: Array<KeyValue | undefined> = [];
  private queuedBytes = 0;
  private failure: NodeError | undefined;
  private wake: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly filter: WatchFilter,
    /** Changes before this revision are not reported. */
    private readonly from: number,
    private readonly maxQueued: { events: number; bytes: number },
    private readonly onClose: (watcher: Watcher) => void,
  ) {}

  /** Takes the changes this watcher wants (previous[i]: changes[i]'s key before it); ends it if too many are waiting. */
  offer(changes: readonly KeyValue[], previous: ReadonlyArray<KeyValue | undefined> = []): void {
    if (this.closed || this.failure !== undefined) return;
    const before = this.queue.length;
    const withPrevious = this.filter.prevKv === true;
    for (let i = 0; i < changes.length; i++) {
      const change = changes[i]!;
      if (change.modRevision >= this.from && matches(this.filter, change)) {
        this.queue.push(change);
        this.queuedBytes += bytesOf(change, withPrevious ? previous[i] : undefined);
        if (withPrevious) this.previousQueue.push(previous[i]);
      }
    }
    const tooMany = this.queue.length > this.maxQueued.events;
    if (tooMany || this.queuedBytes > this.maxQueued.bytes) {
      const resumeAt = this.queue[0]!.modRevision;
      this.queue = [];
      this.previousQueue = [];
      this.queuedBytes = 0;
      const behind = tooMany ? `${this.maxQueued.events} changes` : `${this.maxQueued.bytes} bytes of changes`;
      this.fail(new NodeError("unavailable", `the watch fell more than ${behind} behind; watch again from revision ${resumeAt}`));
      this.onClose(this);
      return;
    }
    if (this.queue.length > before) this.wakeUp();
  }

  fail(error: NodeError): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.wakeUp();
  }

  /**
   * The changes waiting, as soon as there are any; [] after waitMs without
   * any, or once `signal` fires. Throws the error that ended the watcher.
   */
  async next(waitMs: number, signal?: CancelSignal): Promise<WatchEvent[]> {
    if (this.queue.length === 0 && this.failure === undefined && !this.closed && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          this.wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        signal?.addEventListener("abort", done);
        this.wake = done;
      });
    }
    if (this.queue.length > 0) {
      const changes = this.queue;
      const previous = this.previousQueue;
      this.queue = [];
      this.previousQueue = [];
      this.queuedBytes = 0;
      return changes.map((change, i) => toEvent(change, previous[i]));
    }
    if (this.failure !== undefined) throw this.failure;
    return [];
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.previousQueue = [];
    this.wakeUp();
    this.onClose(this);
  }

  private wakeUp(): void {
    this.wake?.();
  }
}
