// Two data structures of the linearizability search (linearizability.ts):
// the history's call and return events as a linked list that operations can
// be lifted out of and put back in, and a 96-bit Zobrist hash of the set of
// operations linearized so far.

/**
 * Call and return events in time order, as a doubly linked list over arrays.
 * Event 0 is the head sentinel; op i has call event 2i+1 and return 2i+2.
 * At equal times calls come first: operations that touch count as concurrent.
 */
export class EventList {
  private readonly nextOf: Int32Array;
  private readonly prevOf: Int32Array;
  private readonly tail: number;

  private readonly times: Float64Array;

  constructor(ops: ReadonlyArray<{ invokeMs: number; completeMs: number }>) {
    const eventsCount = ops.length * 2;
    this.times = new Float64Array(eventsCount + 2);
    ops.forEach((op, i) => {
      this.times[2 * i + 1] = op.invokeMs;
      this.times[2 * i + 2] = op.completeMs;
    });
    this.tail = eventsCount + 1;
    this.nextOf = new Int32Array(eventsCount + 2);
    this.prevOf = new Int32Array(eventsCount + 2);
    const order: number[] = [];
    for (let e = 1; e <= eventsCount; e++) order.push(e);
    const times = this.times;
    order.sort((a, b) => times[a]! - times[b]! || (b % 2) - (a % 2) || a - b);
    let previous = 0;
    for (const e of order) {
      this.nextOf[previous] = e;
      this.prevOf[e] = previous;
      previous = e;
    }
    this.nextOf[previous] = this.tail;
    this.prevOf[this.tail] = previous;
  }

  first(): number {
    return this.nextOf[0]!;
  }

  next(event: number): number {
    return this.nextOf[event]!;
  }

  isCall(event: number): boolean {
    if (event === this.tail) throw new Error("linearizability search ran past the last event: a return was lost from the event list");
    return event % 2 === 1;
  }

  opOf(event: number): number {
    return (event - 1) >> 1;
  }

  callOf(opIndex: number): number {
    return 2 * opIndex + 1;
  }

  timeOf(event: number): number {
    return this.times[event]!;
  }

  lift(call: number): void {
    this.unlink(call);
    this.unlink(call + 1);
  }

  unlift(call: number): void {
    this.relink(call + 1);
    this.relink(call);
  }

  private unlink(e: number): void {
    this.nextOf[this.prevOf[e]!] = this.nextOf[e]!;
    this.prevOf[this.nextOf[e]!] = this.prevOf[e]!;
  }

  private relink(e: number): void {
    this.nextOf[this.prevOf[e]!] = e;
    this.prevOf[this.nextOf[e]!] = e;
  }
}

/** Zobrist hashing of the linearized set: three independent 32-bit tables (96 bits). */
export class LinearizedSetHash {
  private readonly table: Uint32Array;
  private h0 = 0;
  private h1 = 0;
  private h2 = 0;

  constructor(opsCount: number) {
    this.table = new Uint32Array(opsCount * 3);
    // Fixed seed: the same history always explores the same way.
    let seed = 0x9e3779b9;
    for (let i = 0; i < this.table.length; i++) {
      seed = (seed + 0x6d2b79f5) >>> 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      this.table[i] = (t ^ (t >>> 14)) >>> 0;
    }
  }

  toggle(opIndex: number): void {
    this.h0 = (this.h0 ^ this.table[opIndex * 3]!) >>> 0;
    this.h1 = (this.h1 ^ this.table[opIndex * 3 + 1]!) >>> 0;
    this.h2 = (this.h2 ^ this.table[opIndex * 3 + 2]!) >>> 0;
  }

  text(): string {
    return `${this.h0.toString(36)}.${this.h1.toString(36)}.${this.h2.toString(36)}`;
  }
}
