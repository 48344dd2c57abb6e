// The simulated network: every message gets its own delivery time, may be
// dropped or duplicated, and messages due in the same tick arrive in a random
// order. Links can be cut one way or both ways (partitions) and healed. Every
// message is deep-copied on send, so sender and receiver never share objects.

import type { Entry, Message, NodeId } from "../../src/raft/types";
import type { SimPrng } from "./prng";

/** Probabilities are per million messages; delays in ticks. */
export interface NetworkFaults {
  dropPerMillion: number;
  duplicatePerMillion: number;
  delayTicksMin: number;
  delayTicksMax: number;
  /** A message occasionally arrives much later than the rest (reordering across rounds). */
  longDelayPerMillion: number;
  longDelayTicksMax: number;
}

export const RELIABLE_NETWORK: NetworkFaults = {
  dropPerMillion: 0,
  duplicatePerMillion: 0,
  delayTicksMin: 1,
  delayTicksMax: 1,
  longDelayPerMillion: 0,
  longDelayTicksMax: 1,
};

/** Messages in flight beyond this are dropped at send (a full socket buffer). */
export const IN_FLIGHT_MESSAGES_MAX = 4096;
/** No message is ever delayed longer than this. */
export const DELAY_TICKS_LIMIT = 256;

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  cutDropped: number;
}

export function cloneEntry(entry: Entry): Entry {
  return { term: entry.term, index: entry.index, type: entry.type, data: entry.data.slice() };
}

export function cloneMessage(msg: Message): Message {
  const copy: Message = {
    ...msg,
    entries: msg.entries.map(cloneEntry),
    context: msg.context.slice(),
    snapshotData: msg.snapshotData.slice(),
  };
  if (msg.snapshot !== undefined) {
    copy.snapshot = {
      ...msg.snapshot,
      confState: { voters: [...msg.snapshot.confState.voters], learners: [...msg.snapshot.confState.learners] },
    };
  }
  return copy;
}

export class Network {
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: 0, duplicated: 0, cutDropped: 0 };
  private faults: NetworkFaults;
  /** Messages bucketed by delivery tick. */
  private readonly buckets = new Map<number, Message[]>();
  private inFlightCount = 0;
  /** Extra delay of every message to or from a slow node (a far-away or overloaded peer). */
  private readonly extraDelayTicks = new Map<NodeId, number>();
  /** cuts.get(from) holds every `to` that `from` cannot reach. */
  private readonly cuts = new Map<NodeId, Set<NodeId>>();

  constructor(
    private readonly prng: SimPrng,
    faults: NetworkFaults,
  ) {
    this.faults = validateFaults(faults);
  }

  setFaults(faults: NetworkFaults): void {
    this.faults = validateFaults(faults);
  }

  getFaults(): NetworkFaults {
    return this.faults;
  }

  inFlight(): number {
    return this.inFlightCount;
  }

  send(msg: Message, nowTick: number): void {
    this.stats.sent++;
    if (this.isCut(msg.from, msg.to)) {
      this.stats.cutDropped++;
      return;
    }
    if (this.prng.chance(this.faults.dropPerMillion)) {
      this.stats.dropped++;
      return;
    }
    this.enqueue(cloneMessage(msg), nowTick);
    if (this.prng.chance(this.faults.duplicatePerMillion)) {
      this.stats.duplicated++;
      this.enqueue(cloneMessage(msg), nowTick);
    }
  }

  /** Messages due at nowTick, shuffled; those whose link was cut meanwhile are dropped. */
  takeDue(nowTick: number): Message[] {
    const due = this.buckets.get(nowTick);
    if (due === undefined) return [];
    this.buckets.delete(nowTick);
    this.inFlightCount -= due.length;
    this.prng.shuffle(due);
    const delivered: Message[] = [];
    for (const msg of due) {
      if (this.isCut(msg.from, msg.to)) {
        this.stats.cutDropped++;
        continue;
      }
      delivered.push(msg);
    }
    this.stats.delivered += delivered.length;
    return delivered;
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cuts.get(from)?.has(to) ?? false;
  }

  /** One-way cut: `from` can no longer reach `to` (the reverse direction still works). */
  cutOneWay(from: NodeId, to: NodeId): void {
    let set = this.cuts.get(from);
    if (set === undefined) {
      set = new Set();
      this.cuts.set(from, set);
    }
    set.add(to);
  }

  /** Nobody in groupA reaches groupB and the reverse. */
  split(groupA: readonly NodeId[], groupB: readonly NodeId[]): void {
    for (const a of groupA) {
      for (const b of groupB) {
        this.cutOneWay(a, b);
        this.cutOneWay(b, a);
      }
    }
  }

  isolate(node: NodeId, everyone: readonly NodeId[]): void {
    this.split(
      [node],
      everyone.filter((other) => other !== node),
    );
  }

  heal(): void {
    this.cuts.clear();
  }

  setSlowNode(node: NodeId, extraDelayTicks: number): void {
    if (extraDelayTicks < 0 || extraDelayTicks > DELAY_TICKS_LIMIT) throw new Error(`extra delay ${extraDelayTicks} outside [0, ${DELAY_TICKS_LIMIT}]`);
    this.extraDelayTicks.set(node, extraDelayTicks);
  }

  hasCuts(): boolean {
    for (const set of this.cuts.values()) if (set.size > 0) return true;
    return false;
  }

  describeCuts(): string {
    const parts: string[] = [];
    for (const [from, set] of [...this.cuts.entries()].sort()) {
      for (const to of [...set].sort()) parts.push(`${from}>${to}`);
    }
    return parts.length === 0 ? "none" : parts.join(" ");
  }

  private enqueue(msg: Message, nowTick: number): void {
    if (this.inFlightCount >= IN_FLIGHT_MESSAGES_MAX) {
      this.stats.dropped++;
      return;
    }
    const f = this.faults;
    let delayTicks = this.prng.between(f.delayTicksMin, f.delayTicksMax);
    if (this.prng.chance(f.longDelayPerMillion)) delayTicks = this.prng.between(f.delayTicksMax, f.longDelayTicksMax);
    delayTicks += (this.extraDelayTicks.get(msg.from) ?? 0) + (this.extraDelayTicks.get(msg.to) ?? 0);
    const at = nowTick + delayTicks;
    let bucket = this.buckets.get(at);
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(at, bucket);
    }
    bucket.push(msg);
    this.inFlightCount++;
  }
}

function validateFaults(f: NetworkFaults): NetworkFaults {
  const ok =
    f.delayTicksMin >= 1 &&
    f.delayTicksMin <= f.delayTicksMax &&
    f.delayTicksMax <= f.longDelayTicksMax &&
    f.longDelayTicksMax <= DELAY_TICKS_LIMIT &&
    f.dropPerMillion >= 0 &&
    f.duplicatePerMillion >= 0;
  if (!ok) throw new Error(`invalid network faults: ${JSON.stringify(f)}`);
  return f;
}
