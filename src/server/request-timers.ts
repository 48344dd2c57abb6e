// Deadlines of requests in progress, on one timer. A setTimeout per request
// (and an AbortController per call to carry its cancellation) cost little CPU
// but gave the leader ~20,000 short-lived native objects a second, each freed
// by the garbage collector's finalizers: with them the leader's GC pauses
// reached 20-30 ms several times a run at 64 put clients, without them at
// most ~13 ms (JSC GC log, warm 3-member cluster).
//
// Deadlines are rounded up to RESOLUTION_MS and kept in one Set per slot, so
// finishing a request before its deadline (the usual case) is a Set delete.

/** How late a deadline may fire; never early. */
export const RESOLUTION_MS = 10;

export interface RequestTimer {
  readonly slot: number;
  readonly fire: () => void;
}

export class TimerWheel {
  private readonly slots = new Map<number, Set<RequestTimer>>();
  /** Slot numbers in ascending order from `head` (some may be emptied meanwhile). */
  private order: number[] = [];
  private head = 0;
  private armedSlot = Infinity;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly resolutionMs = RESOLUTION_MS,
    private readonly now: () => number = () => performance.now(),
    /** A callback threw: by default the error is thrown again on its own, as a timer callback's would be. */
    private readonly onError: (error: unknown) => void = (error) =>
      queueMicrotask(() => {
        throw error;
      }),
  ) {}

  /** Calls `fire` once, no sooner than delayMs from now, unless cancelled first. */
  schedule(delayMs: number, fire: () => void): RequestTimer {
    const slot = Math.ceil((this.now() + Math.max(0, delayMs)) / this.resolutionMs);
    const timer: RequestTimer = { slot, fire };
    let set = this.slots.get(slot);
    if (set === undefined) {
      set = new Set();
      this.slots.set(slot, set);
      this.insertSlot(slot);
    }
    set.add(timer);
    if (slot < this.armedSlot) this.arm(slot);
    return timer;
  }

  cancel(timer: RequestTimer): void {
    const set = this.slots.get(timer.slot);
    if (set !== undefined && set.delete(timer) && set.size === 0) this.slots.delete(timer.slot);
  }

  /** Timers not yet fired or cancelled (for tests). */
  get pending(): number {
    let count = 0;
    for (const set of this.slots.values()) count += set.size;
    return count;
  }

  private insertSlot(slot: number): void {
    const order = this.order;
    // Deadlines mostly grow (most requests share one timeout): append is the common case.
    if (order.length === this.head || order[order.length - 1]! < slot) {
      order.push(slot);
      return;
    }
    let lo = this.head;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (order[mid]! < slot) lo = mid + 1;
      else hi = mid;
    }
    order.splice(lo, 0, slot);
  }

  private arm(slot: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedSlot = slot;
    this.timer = setTimeout(() => this.run(), Math.max(0, slot * this.resolutionMs - this.now()));
  }

  private run(): void {
    this.timer = undefined;
    this.armedSlot = Infinity;
    const due = Math.floor(this.now() / this.resolutionMs);
    const fired: RequestTimer[] = [];
    while (this.head < this.order.length && this.order[this.head]! <= due) {
      const slot = this.order[this.head++]!;
      const set = this.slots.get(slot);
      if (set === undefined) continue;
      this.slots.delete(slot);
      for (const timer of set) fired.push(timer);
    }
    if (this.head === this.order.length) {
      this.order = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
    this.armNext();
    for (const timer of fired) {
      try {
        timer.fire();
      } catch (error) {
        // One failing callback must not keep the others of its slot from firing.
        this.onError(error);
      }
    }
  }

  private armNext(): void {
    while (this.head < this.order.length && !this.slots.has(this.order[this.head]!)) this.head++;
    if (this.head < this.order.length) this.arm(this.order[this.head]!);
  }
}

/** The process's one wheel for request deadlines. */
export const requestTimers = new TimerWheel();
