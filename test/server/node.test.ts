// Several real members (sqlite storage, timers) in one process over an
// in-memory network: the node's own logic — bootstrap, the join loop,
// forwarding, linearizable reads, failover — without sockets.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildConfig } from "../../src/server/config.ts";
import { NodeError } from "../../src/server/contract.ts";
import { createLogger } from "../../src/server/logger.ts";
import { DkvNode } from "../../src/server/node.ts";
import { openMemberStorage } from "../../src/server/member-storage.ts";
import { encodedPending, type Storage } from "../../src/storage/index.ts";
import { MemoryHub } from "./memory-network.ts";
import { create } from "@bufbuild/protobuf";
import { ForwardRequestSchema, type ForwardResponse } from "../../src/gen/dkv/raft/v1/raft_pb.ts";

const text = (s: string) => new TextEncoder().encode(s);
const decode = (b: Uint8Array | undefined) => new TextDecoder().decode(b);

interface TestCluster {
  hub: MemoryHub;
  nodes: DkvNode[];
  stores: Storage[];
  names: string[];
  root: string;
  /** Every line the members logged (they go to stderr too). */
  logLines: string[];
}

const running: TestCluster[] = [];

afterEach(async () => {
  for (const cluster of running.splice(0)) {
    await Promise.all(cluster.nodes.map((n) => n.stop().catch(() => {})));
    rmSync(cluster.root, { recursive: true, force: true });
  }
});

async function startCluster(size: number, electionTimeout = "200ms", extraFlags: Record<string, string> = {}): Promise<TestCluster> {
  const root = mkdtempSync(join(tmpdir(), "dkv-node-"));
  const hub = new MemoryHub();
  const names = Array.from({ length: size }, (_, i) => `m${i}`);
  const initial = names.map((n, i) => `${n}=127.0.0.1:${3000 + i}`).join(",");
  const nodes: DkvNode[] = [];
  const stores: Storage[] = [];
  const logLines: string[] = [];
  const cluster = { hub, nodes, stores, names, root, logLines };
  running.push(cluster);
  for (const [i, name] of names.entries()) {
    const config = buildConfig({
      name,
      "data-dir": join(root, name),
      "listen-peer-address": `127.0.0.1:${3000 + i}`,
      "listen-client-address": `127.0.0.1:${4000 + i}`,
      "initial-cluster": initial,
      "heartbeat-interval": "20ms",
      "election-timeout": electionTimeout,
      "log-level": "warn",
      ...extraFlags,
    });
    const log = createLogger(name, (process.env.DKV_TEST_LOG as "debug") ?? "warn", (line) => {
      logLines.push(line);
      process.stderr.write(line);
    });
    const store = openMemberStorage(config, log);
    stores.push(store);
    const node = new DkvNode({ config, store, network: hub.network(name), log, version: "test", seed: i + 1 });
    nodes.push(node);
    await node.start();
  }
  return cluster;
}

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

async function leaderOf(nodes: DkvNode[]): Promise<DkvNode | undefined> {
  for (const n of nodes) if ((await n.status()).isLeader) return n;
  return undefined;
}

/** The leader, once all three members are voters. */
function leaderWithTwoVoters(nodes: DkvNode[]): Promise<DkvNode> {
  return until("a leader with two voting followers", 15_000, async () => {
    const found = await leaderOf(nodes);
    return found && (await found.members()).filter((m) => !m.isLearner).length === 3 ? found : undefined;
  });
}

/** Holds every log fsync of `store` (the real one runs once released): a slow disk, on demand. */
function holdDiskSyncs(store: Storage): { release(): void } {
  const real = store.syncLog.bind(store);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  store.syncLog = async () => {
    await gate;
    return real();
  };
  return {
    release() {
      store.syncLog = real;
      open();
    },
  };
}

describe("members in one process", () => {
  test("the first listed member bootstraps and the join loop adds the others as voters", async () => {
    const { nodes } = await startCluster(3);
    await until("three voters", 10_000, async () => {
      const members = await nodes[0]!.members();
      return members.length === 3 && members.every((m) => !m.isLearner);
    });
    const members = await nodes[1]!.members();
    expect(members.map((m) => m.id)).toEqual(["m0", "m1", "m2"]);
    expect(members.map((m) => m.peerAddress)).toEqual(["127.0.0.1:3000", "127.0.0.1:3001", "127.0.0.1:3002"]);
  }, 20_000);

  test("the leader forgets each command it encoded once it applies it (no decoding, nothing kept)", async () => {
    const { nodes } = await startCluster(3);
    await until("three voters", 10_000, async () => (await nodes[0]!.members()).filter((m) => !m.isLearner).length === 3);
    const leader = (await until("a leader", 5000, () => leaderOf(nodes)))!;
    const before = encodedPending();
    await Promise.all(Array.from({ length: 200 }, (_, i) => leader.put(`key-${i}`, text(`value-${i}`))));
    // Every member has applied them; the leader's map of encoded commands is back where it was.
    for (const n of nodes) expect(decode((await n.get("key-199", "linearizable")).kv?.value)).toBe("value-199");
    expect(encodedPending()).toEqual(before);
  }, 20_000);

  test("a write on a follower is forwarded; every member then reads it linearizably", async () => {
    const { nodes } = await startCluster(3);
    await until("three voters", 10_000, async () => (await nodes[0]!.members()).filter((m) => !m.isLearner).length === 3);
    const leader = (await until("a leader", 5000, () => leaderOf(nodes)))!;
    const follower = nodes.find((n) => n !== leader)!;
    const put = await follower.put("k", text("v1"));
    expect(put.kv.version).toBe(1);
    for (const n of nodes) expect(decode((await n.get("k", "linearizable")).kv?.value)).toBe("v1");
    const cas = await follower.compareAndSwap({ compare: { key: "k", target: "value", value: text("v1"), number: 0 }, key: "k", value: text("v2"), delete: false });
    expect(cas.succeeded).toBe(true);
    const stale = await follower.compareAndSwap({ compare: { key: "k", target: "value", value: text("v1"), number: 0 }, key: "k", value: text("v3"), delete: false });
    expect(stale.succeeded).toBe(false);
    expect(decode(stale.previous?.value)).toBe("v2");
    expect((await leader.delete("k")).deleted).toBe(true);
    expect((await follower.get("k", "linearizable")).kv).toBeUndefined();
  }, 20_000);

  test("an isolated leader's followers elect a new one; its pending reads fail rather than go stale", async () => {
    const { nodes, hub } = await startCluster(3);
    await until("three voters", 10_000, async () => (await nodes[0]!.members()).filter((m) => !m.isLearner).length === 3);
    const old = (await until("a leader", 5000, () => leaderOf(nodes)))!;
    await old.put("x", text("1"));
    hub.isolate((await old.status()).memberId);
    const rest = nodes.filter((n) => n !== old);
    const next = await until("a new leader", 5000, () => leaderOf(rest));
    await next.put("x", text("2"));
    // The old leader cannot confirm a read index any more: no stale "1".
    const read = old.get("x", "linearizable").then(
      (r) => decode(r.kv?.value),
      (e: NodeError) => e.code,
    );
    expect(["deadline_exceeded", "unavailable", "2"]).toContain(await read);
    hub.heal();
    await until("the old leader to catch up", 5000, async () => decode((await old.get("x", "serializable")).kv?.value) === "2");
  }, 30_000);

  test("a listed member that was removed stays removed while it keeps running", async () => {
    const { nodes } = await startCluster(3);
    await until("three voters", 10_000, async () => (await nodes[0]!.members()).filter((m) => !m.isLearner).length === 3);
    const leader = (await until("a leader", 5000, () => leaderOf(nodes)))!;
    const victim = (await leader.status()).memberId === "m2" ? "m1" : "m2";
    await leader.removeMember(victim);
    expect((await leader.members()).map((m) => m.id)).not.toContain(victim);
    // Absence can only be shown by waiting: several runs of the 500 ms join loop.
    await Bun.sleep(2000);
    expect((await leader.members()).map((m) => m.id)).not.toContain(victim);
  }, 20_000);

  test("bad input is refused before anything is proposed", async () => {
    const { nodes } = await startCluster(1);
    await until("a leader", 5000, () => leaderOf(nodes));
    const node = nodes[0]!;
    await expect(node.put("", text("v"))).rejects.toThrow("key must not be empty");
    await expect(node.put("k".repeat(5000), text("v"))).rejects.toThrow(/limit is 4096 bytes/);
    await expect(node.put("big", new Uint8Array(2 * 1024 * 1024))).rejects.toThrow(/limit is/);
    await expect(node.put("\u0000dkv/member/x", text("v"))).rejects.toThrow(/reserved/);
    expect((await node.status()).appliedIndex).toBeLessThan(5);
  }, 20_000);

  test("nothing of a Ready leaves before its fsync: a write is acknowledged and applied only once the leader and a follower have it on disk", async () => {
    // A long election timeout: a member whose disk is held sends nothing, not even heartbeats.
    const { nodes, stores } = await startCluster(3, "2000ms");
    const leader = await leaderWithTwoVoters(nodes);
    await leader.put("warm", text("0"));
    const followers = nodes.filter((n) => n !== leader);
    const storeOf = (n: DkvNode) => stores[nodes.indexOf(n)]!;
    const HOLD_MS = 400;

    const pendingWrite = async (key: string) => {
      let settled = false;
      const write = leader.put(key, text("1")).finally(() => (settled = true));
      await Bun.sleep(HOLD_MS);
      return { write, settled: () => settled };
    };
    const appliedAnywhere = async (key: string) => {
      for (const n of nodes) if ((await n.get(key, "serializable")).kv) return true;
      return false;
    };

    // The leader's disk is slow: both followers have the entry durable, yet
    // nobody may apply it and the client hears nothing until the leader's fsync.
    const leaderDisk = holdDiskSyncs(storeOf(leader));
    const first = await pendingWrite("after-leader-sync");
    expect(first.settled()).toBe(false);
    expect(await appliedAnywhere("after-leader-sync")).toBe(false);
    leaderDisk.release();
    expect((await first.write).kv.key).toBe("after-leader-sync");

    // Both followers' disks are slow: the leader alone is no quorum.
    const followerDisks = followers.map((f) => holdDiskSyncs(storeOf(f)));
    const second = await pendingWrite("after-follower-sync");
    expect(second.settled()).toBe(false);
    expect(await appliedAnywhere("after-follower-sync")).toBe(false);
    // One follower's disk catches up: leader + that follower are a quorum.
    followerDisks[0]!.release();
    expect((await second.write).kv.key).toBe("after-follower-sync");
    expect((await followers[1]!.get("after-follower-sync", "serializable")).kv).toBeUndefined();
    followerDisks[1]!.release();
    await until("the slow follower applies it too", 5000, async () => (await followers[1]!.get("after-follower-sync", "serializable")).kv);
  });

  test("linearizable reads arriving together share read index requests instead of one heartbeat round each", async () => {
    const { nodes } = await startCluster(3);
    const leader = await leaderWithTwoVoters(nodes);
    await leader.put("shared", text("v"));
    // The real core, counted: each read index request costs a heartbeat round to every follower.
    const raft = (leader as unknown as { raft: { readIndex(context: Uint8Array): void } }).raft;
    const realReadIndex = raft.readIndex.bind(raft);
    let requests = 0;
    raft.readIndex = (context) => {
      requests++;
      realReadIndex(context);
    };
    const READS = 64;
    const results = await Promise.all(Array.from({ length: READS }, () => leader.get("shared", "linearizable")));
    for (const r of results) expect(decode(r.kv?.value)).toBe("v");
    // The first read goes at once; the rest wait for it and share the next request or two.
    expect(requests).toBeGreaterThanOrEqual(1);
    expect(requests).toBeLessThanOrEqual(3);
  });

  test("every member snapshots and compacts its log in steps, keeping snapshot-count entries behind the snapshot", async () => {
    const SNAPSHOT_COUNT = 1500;
    const { nodes, stores } = await startCluster(3, "1000ms", { "snapshot-count": String(SNAPSHOT_COUNT) });
    const leader = await leaderWithTwoVoters(nodes);
    // Past two snapshots: the second compacts more than one step (1000 entries) at once.
    const WRITES = 3300;
    for (let done = 0; done < WRITES; done += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => leader.put(`k${(done + i) % 100}`, text(String(done + i)))));
    }
    for (const store of stores) {
      await until("a second snapshot and its compaction", 10_000, () => {
        const snapshot = store.snapshots.newestMeta().index;
        return snapshot >= 2 * SNAPSHOT_COUNT && store.log.firstIndex() - 1 === snapshot - SNAPSHOT_COUNT ? true : undefined;
      });
      // Nothing the followers may still need from the log went: it still holds snapshot-count entries before the snapshot.
      expect(store.log.lastIndex() - store.log.firstIndex() + 1).toBeGreaterThanOrEqual(SNAPSHOT_COUNT);
    }
    for (const n of nodes) expect(decode((await n.get("k99", "linearizable")).kv?.value)).toBe(String(WRITES - 1));
  });

  test("writes still waiting when a member stops are told their outcome is open, not to retry blindly (proposed here, or passed on to the leader)", async () => {
    const { hub, nodes, stores, names } = await startCluster(3);
    const leader = await leaderWithTwoVoters(nodes);
    const li = nodes.indexOf(leader);
    const [fi, oi] = [0, 1, 2].filter((i) => i !== li) as [number, number];
    // The leader hears the follower but reaches nobody: what it is given is logged, never committed.
    hub.cut.add(`${names[li]}>${names[fi]}`);
    hub.cut.add(`${names[li]}>${names[oi]}`);
    hub.cut.add(`${names[oi]}>${names[li]}`);
    const before = stores[li]!.log.lastIndex();
    const forwarded = nodes[fi]!.put("passed-on", text("x")).catch((error: unknown) => error);
    await until("the forwarded write in the leader's log", 5000, () => stores[li]!.log.lastIndex() > before);
    await nodes[fi]!.stop();
    const proposed = leader.put("proposed-here", text("y")).catch((error: unknown) => error);
    await until("the leader's own write in its log", 5000, () => stores[li]!.log.lastIndex() > before + 1);
    await leader.stop();
    for (const outcome of [await forwarded, await proposed]) {
      expect(outcome).toBeInstanceOf(NodeError);
      expect((outcome as NodeError).code).toBe("unavailable");
      expect((outcome as NodeError).message).toMatch(/may still be applied by the other members: read before retrying a compare-and-swap or transaction/);
    }
  });

  test("a log write slower than 1 s is logged once per 10 s, with how many there were and the longest", async () => {
    const { nodes, stores, logLines } = await startCluster(1);
    const node = nodes[0]!;
    await until("a leader", 5000, () => leaderOf(nodes));
    await node.put("fast", text("1"));
    expect(logLines.filter((l) => l.includes("slow disk"))).toEqual([]);
    for (const holdMs of [1100, 1050]) {
      const held = holdDiskSyncs(stores[0]!);
      const write = node.put("slow", text(String(holdMs)));
      await Bun.sleep(holdMs);
      held.release();
      await write;
    }
    const warnings = logLines.filter((l) => l.includes("slow disk: writing the raft log took over 1 s"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/slowWrites=1 longestMs=1\d{3} /);
    expect(warnings[0]).toContain(stores[0]!.paths.dir);
  }, 15_000);

  test("a failed snapshot is tried again after a pause (100 ticks), not after every later write", async () => {
    const { nodes, stores } = await startCluster(1, "200ms", { "snapshot-count": "20" });
    const node = nodes[0]!;
    const store = stores[0]!;
    await until("a leader", 5000, () => leaderOf(nodes));
    const real = store.createSnapshot.bind(store);
    let attempts = 0;
    store.createSnapshot = async () => {
      attempts++;
      throw new Error("no space left on device");
    };
    // 200 writes one by one: a Ready each, every one of them past snapshot-count.
    for (let i = 0; i < 200; i++) await node.put(`k${i % 10}`, text(String(i)));
    expect(attempts).toBe(1);
    // The disk has room again: the next try, 100 ticks of 20 ms later, succeeds.
    store.createSnapshot = real;
    const started = performance.now();
    await until("a snapshot after the pause", 10_000, async () => {
      await node.put("tick", text("x"));
      return store.snapshots.newestMeta().index > 0 ? true : undefined;
    });
    expect(performance.now() - started).toBeGreaterThan(1000);
  });
});

describe("the memory quota", () => {
  test("past --quota-bytes a write that adds bytes is refused with resource_exhausted; deletes and shrinking writes go through", async () => {
    const { nodes, stores } = await startCluster(1, "200ms", { "quota-bytes": "4000" });
    const node = nodes[0]!;
    await until("a leader", 5000, () => leaderOf(nodes));
    const bytes = (n: number) => new Uint8Array(n).fill(7);
    await node.put("a", bytes(2000));
    const refused = await node.put("b", bytes(2500)).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(NodeError);
    expect((refused as NodeError).code).toBe("resource_exhausted");
    expect((refused as NodeError).message).toMatch(/past the quota of 4000 bytes \(--quota-bytes\); delete keys or raise the quota/);
    const cas = node.compareAndSwap({ compare: { key: "b", target: "version", value: new Uint8Array(0), number: 0 }, key: "b", value: bytes(2500), delete: false });
    expect(await cas.catch((error: NodeError) => error.code)).toBe("resource_exhausted");
    expect((await node.get("b", "linearizable")).kv).toBeUndefined();
    // Overwriting with a smaller value frees bytes, and so does a delete.
    await node.put("a", bytes(10));
    await node.put("b", bytes(2500));
    expect(stores[0]!.kv.dataBytes()).toBeLessThanOrEqual(4000);
    expect((await node.delete("a")).deleted).toBe(true);
    expect(stores[0]!.kv.dataBytes()).toBeGreaterThan(2500);
  }, 20_000);
});

describe("forwarded requests", () => {
  test("a leader refuses a forwarded request of a kind it does not know instead of proposing its bytes", async () => {
    const { nodes, hub } = await startCluster(3);
    const leader = await leaderWithTwoVoters(nodes);
    const { memberId, appliedIndex } = await leader.status();
    const answers: ForwardResponse[] = [];
    const probe = hub.network("probe");
    await probe.start({ onRaftMessage: () => {}, onForwardRequest: () => {}, onForwardResponse: (_from, response) => answers.push(response), onUnreachable: () => {}, isRemoved: () => false, onRemoved: () => {} });
    const command = new TextEncoder().encode("not a command");
    expect(probe.sendForwardRequest(memberId, create(ForwardRequestSchema, { requestId: 7n, kind: "compact", command, timeoutMs: 1000 }))).toBe(true);
    await until("the leader's answer", 2000, () => answers.length > 0 || undefined);
    expect(answers[0]).toMatchObject({ requestId: 7n, errorCode: "failed_precondition" });
    expect(answers[0]!.errorMessage).toContain('"compact"');
    expect((await leader.status()).appliedIndex).toBe(appliedIndex);
  }, 20_000);
});

describe("leases", () => {
  const codeOf = (promise: Promise<unknown>) => promise.then(() => "ok", (error: NodeError) => error.code);

  test("a lease granted through a follower ends on the leader's clock: its keys stay while keep-alives come and go on every member once they stop", async () => {
    const { nodes } = await startCluster(3);
    const leader = await leaderWithTwoVoters(nodes);
    const follower = nodes.find((n) => n !== leader)!;
    const lease = await follower.leaseGrant(1, 0, undefined);
    expect(lease.ttlSeconds).toBe(1);
    expect((await follower.put("svc/a", text("up"), undefined, lease.id)).kv.lease).toBe(lease.id);
    await follower.put("plain", text("stays"));

    const ttl = await leader.leaseTimeToLive(lease.id, true, "linearizable");
    expect(ttl).toMatchObject({ grantedTtlSeconds: 1, keys: ["svc/a"] });
    expect(ttl.remainingSeconds).toBeGreaterThanOrEqual(0);
    // A follower asks the leader, which times the lease; a serializable query stays local and cannot know.
    const throughFollower = await follower.leaseTimeToLive(lease.id, false, "linearizable");
    expect(throughFollower.remainingSeconds).toBeGreaterThanOrEqual(0);
    expect(throughFollower.remainingSeconds).toBeLessThanOrEqual(1);
    expect((await follower.leaseTimeToLive(lease.id, false, "serializable")).remainingSeconds).toBe(-1);

    // Twice the TTL with keep-alives every 300 ms (through the follower): the key stays.
    // Keep-alives touch only the leader's clock: no raft entry, no revision.
    const commitBefore = (await leader.status()).commitIndex;
    const keptUntil = Date.now() + 2000;
    while (Date.now() < keptUntil) {
      expect((await follower.leaseKeepAlive(lease.id)).ttlSeconds).toBe(1);
      await Bun.sleep(300);
    }
    expect((await leader.status()).commitIndex).toBe(commitBefore);
    expect(await codeOf(leader.leaseKeepAlive(12345))).toBe("not_found");
    for (const n of nodes) expect((await n.get("svc/a", "linearizable")).kv?.lease).toBe(lease.id);

    const stoppedAt = Date.now();
    for (const n of nodes) await until("the key to go with its lease", 5000, async () => (await n.get("svc/a", "serializable")).kv === undefined);
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(700);
    expect(await codeOf(follower.leaseKeepAlive(lease.id))).toBe("not_found");
    expect(await codeOf(follower.put("svc/b", text("late"), undefined, lease.id))).toBe("not_found");
    expect(decode((await follower.get("plain", "linearizable")).kv?.value)).toBe("stays");
  }, 30_000);

  test("a new leader gives every lease its whole TTL again: isolating the leader does not end a lease early", async () => {
    const { nodes, hub } = await startCluster(3);
    const old = await leaderWithTwoVoters(nodes);
    const lease = await old.leaseGrant(2, 0, undefined);
    await old.put("lock", text("held"), undefined, lease.id);
    hub.isolate((await old.status()).memberId);
    const rest = nodes.filter((n) => n !== old);
    const next = await until("a new leader", 5000, () => leaderOf(rest));
    const electedAt = Date.now();
    // The new leader times the lease from its own election, not from the grant (which was earlier).
    await Bun.sleep(1500);
    expect((await next.get("lock", "linearizable")).kv?.lease).toBe(lease.id);
    await until("the lease to end on the new leader's clock", 8000, async () => (await next.get("lock", "linearizable")).kv === undefined);
    expect(Date.now() - electedAt).toBeGreaterThanOrEqual(1900);
    hub.heal();
    await until("the old leader to learn of the revoke", 8000, async () => (await old.get("lock", "serializable")).kv === undefined);
  }, 40_000);

  test("revoke deletes the keys and answers how many; bad ids and TTLs are refused before anything is proposed", async () => {
    const { nodes } = await startCluster(1);
    const node = (await until("a leader", 5000, () => leaderOf(nodes)))!;
    const lease = await node.leaseGrant(600, 42, undefined);
    expect(lease.id).toBe(42);
    await node.leaseGrant(5, 7, undefined);
    expect((await node.leaseList("linearizable")).leases).toEqual([{ id: 7, ttlSeconds: 5 }, { id: 42, ttlSeconds: 600 }]);
    expect(await codeOf(node.leaseGrant(600, 42, undefined))).toBe("failed_precondition");
    for (const key of ["a", "b", "c"]) await node.put(key, text("1"), undefined, 42);
    await node.put("c", text("2"));
    const revoked = await node.leaseRevoke(42);
    expect(revoked.deletedKeys).toBe(2);
    expect((await node.list({ prefix: "", key: "", rangeEnd: "", limit: 0, keysOnly: true, consistency: "linearizable" })).kvs.map((kv) => kv.key)).toEqual(["c"]);
    expect(await codeOf(node.leaseRevoke(42))).toBe("not_found");
    expect((await node.leaseList("serializable")).leases.map((l) => l.id)).toEqual([7]);
    expect(await codeOf(node.leaseGrant(0, 0, undefined))).toBe("invalid_argument");
    expect(await codeOf(node.leaseGrant(366 * 24 * 3600, 0, undefined))).toBe("invalid_argument");
    expect(await codeOf(node.leaseKeepAlive(-1))).toBe("invalid_argument");
    expect(await codeOf(node.put("d", text("1"), undefined, 2 ** 53))).toBe("invalid_argument");
    expect(await codeOf(node.leaseTimeToLive(8, false, "linearizable"))).toBe("not_found");
  }, 20_000);
});

describe("move leader", () => {
  test("any member hands leadership to the voter asked for; unknown members and learners are refused", async () => {
    const { nodes } = await startCluster(3);
    const leader = await leaderWithTwoVoters(nodes);
    const followers = nodes.filter((n) => n !== leader);
    const targetId = (await followers[1]!.status()).memberId;
    // Asked of the follower that is not the target: it passes the request on to the leader.
    const moved = await followers[0]!.moveLeader(targetId);
    expect(moved.leaderId).toBe(targetId);
    expect((await followers[1]!.status()).isLeader).toBe(true);
    expect(moved.raftTerm).toBeGreaterThan(0);
    // Already there: answers at once.
    expect((await leader.moveLeader(targetId)).leaderId).toBe(targetId);
    await followers[1]!.put("after", text("1"));
    for (const n of nodes) await until("the write under the new leader everywhere", 5000, async () => decode((await n.get("after", "serializable")).kv?.value) === "1");
    const unknown = await leader.moveLeader("nobody").catch((error: NodeError) => error);
    expect(unknown).toBeInstanceOf(NodeError);
    expect((unknown as NodeError).code).toBe("not_found");
    const current = followers[1]!;
    await current.addMember("m9", "127.0.0.1:3999", "127.0.0.1:4999", true);
    const learner = await current.moveLeader("m9").catch((error: NodeError) => error);
    expect((learner as NodeError).code).toBe("failed_precondition");
    expect((learner as NodeError).message).toContain("is a learner");
  }, 30_000);
});

describe("transactions", () => {
  test("a transaction through a follower answers the ops' results as the leader applied them; limits are checked first", async () => {
    const { nodes } = await startCluster(3);
    const leader = await leaderWithTwoVoters(nodes);
    const follower = nodes.find((n) => n !== leader)!;
    const lease = await follower.leaseGrant(60, 0, undefined);
    const take = (owner: string) =>
      follower.txn({
        compare: [{ key: "lock", target: "create_revision", result: "equal", value: new Uint8Array(0), number: 0 }],
        success: [{ type: "put", key: "lock", value: text(owner), lease: lease.id }, { type: "get", key: "lock" }],
        failure: [{ type: "get", key: "lock" }],
      });
    const first = await take("one");
    expect(first.succeeded).toBe(true);
    expect(first.results.map((r) => r.type)).toEqual(["put", "get"]);
    const put = first.results[0]!;
    expect(put.type === "put" && put.kv.lease).toBe(lease.id);
    expect(put.type === "put" && put.kv.modRevision).toBe(first.header.revision);
    const second = await take("two");
    expect(second.succeeded).toBe(false);
    const seen = second.results[0]!;
    expect(seen.type === "get" && decode(seen.kv?.value)).toBe("one");
    for (const n of nodes) await until("the lock everywhere", 5000, async () => decode((await n.get("lock", "serializable")).kv?.value) === "one");

    // Range reads travel back from the leader with their keys, "more" and counts.
    await follower.put("svc/a", text("1"));
    await follower.put("svc/b", text("2"));
    const range = { prefix: "", key: "", rangeEnd: "", limit: 0, keysOnly: false, countOnly: false };
    const read = await follower.txn({
      compare: [],
      success: [
        { type: "delete", key: "svc/a", prefix: false, rangeEnd: "" },
        { type: "list", ...range, prefix: "svc/" },
        { type: "list", ...range, key: "a", rangeEnd: "z", limit: 1, keysOnly: true },
        { type: "list", ...range, countOnly: true },
      ],
      failure: [],
    });
    expect(read.results.slice(1)).toEqual([
      { type: "list", kvs: [expect.objectContaining({ key: "svc/b", value: text("2") })], more: false, count: 0 },
      { type: "list", kvs: [expect.objectContaining({ key: "lock", value: new Uint8Array(0) })], more: true, count: 0 },
      { type: "list", kvs: [], more: false, count: 2 },
    ]);
    expect((await follower.list({ ...range, prefix: "svc/", countOnly: true, consistency: "linearizable" })).count).toBe(1);
    expect(await follower.list({ ...range, key: "b", rangeEnd: "a", consistency: "serializable" }).catch((error: NodeError) => error.code)).toBe("invalid_argument");
    // A watched range must run forward, and is not also a prefix.
    const watchCode = (query: Parameters<DkvNode["watch"]>[0]) => {
      try {
        follower.watch(query);
        return "ok";
      } catch (error) {
        return (error as NodeError).code;
      }
    };
    expect(watchCode({ key: "b", prefix: false, startRevision: 0, rangeEnd: "a" })).toBe("invalid_argument");
    expect(watchCode({ key: "a", prefix: true, startRevision: 0, rangeEnd: "b" })).toBe("invalid_argument");
    expect(watchCode({ key: "", prefix: false, startRevision: 0, rangeEnd: "b" })).toBe("ok");

    const tooMany = Array.from({ length: 129 }, (_, i) => ({ type: "get" as const, key: `k${i}` }));
    expect(await follower.txn({ compare: [], success: tooMany, failure: [] }).catch((error: NodeError) => error.code)).toBe("invalid_argument");
    expect(await follower.txn({ compare: [], success: [{ type: "put", key: "\u0000dkv/x", value: text("1"), lease: 0 }], failure: [] }).catch((error: NodeError) => error.code)).toBe("invalid_argument");
  }, 30_000);
});
