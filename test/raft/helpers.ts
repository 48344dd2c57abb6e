// Test scaffolding for the raft core: a seeded Prng, message builders, a
// driver that handles a Ready exactly as the contract says (persist, send,
// apply, advance), and a tiny synchronous cluster with droppable links.

import {
  type ConfState,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  MemoryStorage,
  type NodeId,
  type Prng,
  type RaftConfig,
  RaftNode,
  type ReadState,
  type Ready,
} from "../../src/raft/index";

export const ELECTION_TICKS = 10;
export const HEARTBEAT_TICKS = 1;

/** mulberry32: small, fast, and reproducible from its seed. */
export function seededPrng(seed: number): Prng {
  let a = seed >>> 0;
  return {
    nextInt(n: number): number {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      const x = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      return Math.floor(x * n);
    },
  };
}

/** A Prng that always returns 0: every randomized timeout is exactly electionTicks. */
export const zeroPrng: Prng = { nextInt: () => 0 };

export function msg(partial: Partial<Message> & { type: MessageType; from: NodeId; to: NodeId }): Message {
  return {
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: new Uint8Array(0),
    snapshotOffset: 0,
    snapshotData: new Uint8Array(0),
    snapshotDone: false,
    ...partial,
  };
}

export function entry(index: number, term: number, data = ""): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(data) };
}

export function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function confState(voters: NodeId[], learners: NodeId[] = []): ConfState {
  return { voters, learners };
}

export function newNode(id: NodeId, storage: MemoryStorage, overrides: Partial<RaftConfig> = {}): RaftNode {
  return new RaftNode({
    id,
    storage,
    prng: zeroPrng,
    electionTicks: ELECTION_TICKS,
    heartbeatTicks: HEARTBEAT_TICKS,
    ...overrides,
  });
}

/** Storage holding the given log (as if persisted earlier) and hard state. */
export function storageWithLog(cs: ConfState, entries: Entry[], term: number, commit = 0, vote = ""): MemoryStorage {
  const s = new MemoryStorage({ confState: cs });
  s.append(entries);
  s.setHardState({ term, vote, commit });
  return s;
}

export interface Handled {
  ready: Ready;
  applied: Entry[];
}

/** Handle one Ready by the contract: persist, (caller sends), apply, advance. */
export function handleReady(node: RaftNode, storage: MemoryStorage, applied: Entry[] = []): Handled {
  const rd = node.ready();
  for (const chunk of rd.snapshotChunks) storage.writeSnapshotChunk(chunk);
  if (rd.snapshot) storage.installSnapshot(rd.snapshot);
  storage.append(rd.entries);
  if (rd.hardState) storage.setHardState(rd.hardState);
  for (const e of rd.committedEntries) applied.push(e);
  if (rd.confState) storage.setConfState(rd.confState);
  node.advance();
  return { ready: rd, applied };
}

/** Drain a node's Readies; returns all messages it wants sent. */
export function drain(node: RaftNode, storage: MemoryStorage, applied: Entry[] = []): Message[] {
  const out: Message[] = [];
  while (node.hasReady()) out.push(...handleReady(node, storage, applied).ready.messages);
  return out;
}

export interface Member {
  id: NodeId;
  node: RaftNode;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
}

/**
 * A synchronous cluster: messages are delivered in FIFO order until the
 * network is quiet. `dropped(m)` decides which messages are lost.
 */
export class Cluster {
  members = new Map<NodeId, Member>();
  dropped: (m: Message) => boolean = () => false;
  delivered: Message[] = [];
  /** Every message a member emitted, delivered or dropped. */
  sent: Message[] = [];
  private queue: Message[] = [];

  constructor(ids: NodeId[], overrides: Partial<RaftConfig> = {}, cs: ConfState = confState(ids)) {
    for (const id of ids) this.add(id, new MemoryStorage({ confState: cs }), overrides);
  }

  /** Each member draws its election timeouts from its own seeded Prng (split votes resolve). */
  add(id: NodeId, storage: MemoryStorage, overrides: Partial<RaftConfig> = {}): Member {
    const seed = [...id].reduce((h, ch) => h * 31 + ch.charCodeAt(0), 17) + this.members.size;
    const config = { prng: seededPrng(seed), ...overrides };
    const m: Member = { id, node: newNode(id, storage, config), storage, applied: [], readStates: [] };
    this.members.set(id, m);
    return m;
  }

  get(id: NodeId): Member {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  node(id: NodeId): RaftNode {
    return this.get(id).node;
  }

  /** Cut every link to and from these nodes (both directions). */
  isolate(...ids: NodeId[]): void {
    const cut = new Set(ids);
    this.dropped = (m) => cut.has(m.from) || cut.has(m.to);
  }

  heal(): void {
    this.dropped = () => false;
  }

  /** Handle every member's Ready and deliver messages until nothing moves. */
  settle(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      for (const m of this.members.values()) this.collect(m);
      if (this.queue.length === 0) return;
      const batch = this.queue;
      this.queue = [];
      for (const message of batch) this.deliver(message);
    }
    throw new Error(`cluster did not settle within ${maxRounds} rounds`);
  }

  collect(m: Member): void {
    while (m.node.hasReady()) {
      const { ready } = handleReady(m.node, m.storage, m.applied);
      m.readStates.push(...ready.readStates);
      for (const message of ready.messages) {
        this.sent.push(message);
        this.queue.push(message);
      }
    }
  }

  deliver(message: Message): void {
    if (this.dropped(message)) return;
    const target = this.members.get(message.to);
    if (!target) return;
    this.delivered.push(message);
    target.node.step(message);
  }

  tickAll(ticks = 1): void {
    for (let i = 0; i < ticks; i++) {
      for (const m of this.members.values()) m.node.tick();
      this.settle();
    }
  }

  /** Crash and restart a member: a new RaftNode on what its storage persisted. */
  restart(id: NodeId, overrides: Partial<RaftConfig> = {}): Member {
    const old = this.get(id);
    return this.add(id, old.storage.clone(), overrides);
  }

  /** Terms of the entries in a member's persisted log, from its first index. */
  logTerms(id: NodeId): number[] {
    const s = this.get(id).storage;
    return s.entries(s.firstIndex(), s.lastIndex() + 1, Infinity).map((e) => e.term);
  }

  /** Make `id` leader by campaigning and settling. */
  elect(id: NodeId): void {
    this.node(id).campaign();
    this.settle();
    const status = this.node(id).status();
    if (status.leader !== id) throw new Error(`${id} did not become leader (role ${status.role}, leader "${status.leader}")`);
  }

  leaders(): NodeId[] {
    return [...this.members.values()].filter((m) => m.node.status().role === 3).map((m) => m.id);
  }

  appliedData(id: NodeId): string[] {
    return this.get(id)
      .applied.filter((e) => e.type === EntryType.Normal && e.data.length > 0)
      .map((e) => text(e.data));
  }

  /** Messages of a type delivered since the last clear. */
  deliveredOf(type: MessageType): Message[] {
    return this.delivered.filter((m) => m.type === type);
  }
}
