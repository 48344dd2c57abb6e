// Seeded chaos: messages dropped, duplicated and reordered, nodes crashing
// (losing whatever was not persisted), logs compacted behind snapshots. After
// every step the Raft safety properties must hold. Each seed replays exactly.
import { describe, expect, test } from "bun:test";
import { ConfChangeType, type Entry, MemoryStorage, type Message, Role, type RaftNode } from "../../src/raft/index";
import { bytes, newNode, seededPrng } from "./helpers";

interface Replica {
  id: string;
  node: RaftNode;
  storage: MemoryStorage;
  lastApplied: number;
}

const IDS = ["n1", "n2", "n3", "n4", "n5"];
const STEPS = 3000;

function runSeed(seed: number): { commits: number; leaders: number; snapshots: number; confChanges: number } {
  const rand = seededPrng(seed);
  const chance = (p: number) => rand.nextInt(1_000_000) < p * 1_000_000;
  const replicas = new Map<string, Replica>();
  const start = (id: string, storage: MemoryStorage): Replica => {
    const applied = storage.firstIndex() - 1;
    const config = { prng: seededPrng(seed * 100 + replicas.size + IDS.indexOf(id)), applied, maxAppendBytes: 256, maxSnapshotChunkBytes: 64 };
    const r: Replica = { id, node: newNode(id, storage, config), storage, lastApplied: applied };
    replicas.set(id, r);
    return r;
  };
  for (const id of IDS) start(id, new MemoryStorage({ confState: { voters: IDS, learners: [] } }));

  let network: Message[] = [];
  const appliedAt = new Map<number, string>(); // index -> "term:data" applied anywhere
  const leaderOfTerm = new Map<number, string>();
  let proposals = 0;
  let snapshots = 0;
  let confChanges = 0;

  const handle = (r: Replica) => {
    while (r.node.hasReady()) {
      const rd = r.node.ready();
      for (const ch of rd.snapshotChunks) r.storage.writeSnapshotChunk(ch);
      if (rd.snapshot) {
        r.storage.installSnapshot(rd.snapshot);
        r.lastApplied = rd.snapshot.index;
        snapshots++;
      }
      r.storage.append(rd.entries);
      if (rd.hardState) r.storage.setHardState(rd.hardState);
      network.push(...rd.messages);
      for (const e of rd.committedEntries) checkApply(r, e);
      if (rd.confState) r.storage.setConfState(rd.confState);
      r.node.advance();
    }
  };
  const checkApply = (r: Replica, e: Entry) => {
    if (e.index !== r.lastApplied + 1) throw new Error(`seed ${seed}: ${r.id} applied ${e.index} after ${r.lastApplied}`);
    r.lastApplied = e.index;
    const key = `${e.term}:${e.type}:${new TextDecoder().decode(e.data)}`;
    const prior = appliedAt.get(e.index);
    if (prior !== undefined && prior !== key) throw new Error(`seed ${seed}: state machine safety: index ${e.index} applied as ${prior} and ${key}`);
    appliedAt.set(e.index, key);
  };
  const checkLeaders = () => {
    for (const r of replicas.values()) {
      const s = r.node.status();
      if (s.role !== Role.Leader) continue;
      const known = leaderOfTerm.get(s.term);
      if (known !== undefined && known !== r.id) throw new Error(`seed ${seed}: election safety: ${known} and ${r.id} lead term ${s.term}`);
      leaderOfTerm.set(s.term, r.id);
    }
  };

  for (let step = 0; step < STEPS; step++) {
    const ids = [...replicas.keys()];
    const r = replicas.get(ids[rand.nextInt(ids.length)]!)!;
    if (chance(0.3)) {
      r.node.tick();
    } else if (chance(0.15)) {
      try {
        r.node.propose(bytes(`p${proposals}`));
        proposals++;
      } catch {
        // not the leader, or refusing: fine
      }
    } else if (chance(0.02)) {
      // Membership: remove a voter (keeping at least three), add a non-member as learner, promote a learner.
      const target = IDS[rand.nextInt(IDS.length)]!;
      const cs = r.node.status().confState;
      const type = cs.voters.includes(target)
        ? ConfChangeType.RemoveNode
        : cs.learners.includes(target)
          ? ConfChangeType.AddVoter
          : ConfChangeType.AddLearner;
      if (type !== ConfChangeType.RemoveNode || cs.voters.length > 3) {
        try {
          r.node.proposeConfChange({ type, nodeId: target, context: new Uint8Array(0) });
          confChanges++;
        } catch {
          // not the leader, a change pending, or a lagging learner: fine
        }
      }
    } else if (chance(0.01)) {
      // Crash: whatever this node had not persisted is gone.
      network = network.filter((m) => m.to !== r.id);
      start(r.id, r.storage.clone());
    } else if (chance(0.02) && r.lastApplied > r.storage.firstIndex() + 5) {
      const at = r.lastApplied - 2;
      r.storage.createSnapshot(at, r.node.status().confState, bytes(`image@${at}`));
      r.storage.compact(at);
    } else if (network.length > 0) {
      const m = network.splice(rand.nextInt(network.length), 1)[0]!; // reorder
      if (!chance(0.1)) {
        replicas.get(m.to)?.node.step(m);
        if (chance(0.05)) replicas.get(m.to)?.node.step(m); // duplicate
      }
    }
    for (const x of replicas.values()) handle(x);
    checkLeaders();
  }
  // Heal: deliver everything, tick until quiet, and every replica converges.
  for (let round = 0; round < 400; round++) {
    for (const x of replicas.values()) x.node.tick();
    for (let i = 0; i < 50 && network.length > 0; i++) {
      const batch = network;
      network = [];
      for (const m of batch) replicas.get(m.to)?.node.step(m);
      for (const x of replicas.values()) handle(x);
    }
    for (const x of replicas.values()) handle(x);
    checkLeaders();
  }
  // Every current member (removed nodes hear nothing more) converges on the leader's commit.
  const leader = [...replicas.values()].find((x) => x.node.status().role === Role.Leader);
  if (!leader) throw new Error(`seed ${seed}: no leader after healing`);
  const cs = leader.node.status().confState;
  const members = [...cs.voters, ...cs.learners];
  const commits = members.map((id) => replicas.get(id)!.node.status().commit);
  expect(new Set(commits).size).toBe(1);
  return { commits: commits[0]!, leaders: leaderOfTerm.size, snapshots, confChanges };
}

describe("chaos (seeded): drops, duplicates, reordering, crashes, compaction", () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    test(`seed ${seed}: election safety and state machine safety hold, and the cluster converges`, () => {
      const { commits, leaders } = runSeed(seed);
      expect(commits).toBeGreaterThan(IDS.length);
      expect(leaders).toBeGreaterThan(0);
    });
  }
});

