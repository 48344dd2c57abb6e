// A member removed from the cluster stops (exit 1, saying what to do), as
// etcd's does, instead of lingering with stale reads: whether its own log
// holds the removal or, down while it was removed, it hears of it from the
// others when it campaigns after a restart.
import { describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { call, Cluster, formed, getKey, leaderOf, servers, setKey, waitFor, type Member } from "./cluster.ts";
import { clustersStoppedAfterEach } from "./tracked-clusters.ts";

const makeCluster = clustersStoppedAfterEach();
const newCluster = (firstHost: number): Cluster => makeCluster({ size: 3, firstHost });

async function exitOf(cluster: Cluster, m: Member, withinMs: number): Promise<number | null> {
  const exited = m.process!.exited;
  const timeout = Bun.sleep(withinMs).then(() => "running" as const);
  const outcome = await Promise.race([exited, timeout]);
  if (outcome === "running") throw new Error(`${m.name} still runs ${withinMs} ms after its removal\n${cluster.logs(m)}`);
  m.process = undefined;
  return outcome;
}

describe("a removed member", () => {
  test("stops with exit 1 and what to do; started again on its data dir it stops at once; the others go on", async () => {
    const cluster = newCluster(120);
    await cluster.startAll();
    const leader = await formed(cluster);
    const removed = cluster.members.find((m) => m !== leader)!;
    await setKey(cluster.endpoint(leader), "before", "1");
    await call(cluster.endpoint(leader), "dkv.v1.MembershipAPI/LeaveServer", { id: removed.name });
    expect(await exitOf(cluster, removed, 10_000)).toBe(1);
    const said = cluster.logs(removed, 5);
    expect(said).toContain(`dkv: this member (${removed.name}) was removed from the cluster`);
    expect(said).toContain(`delete ${removed.dataDir} first`);

    cluster.start(removed);
    expect(await exitOf(cluster, removed, 5000)).toBe(1);
    expect(cluster.logs(removed, 5)).toContain("(its removal is in its own log, and no leader has contacted it since)");

    const other = cluster.members.find((m) => m !== leader && m !== removed)!;
    await setKey(cluster.endpoint(other), "after", "2");
    expect(await getKey(cluster.endpoint(leader), "after")).toBe("2");
    expect((await servers(cluster.endpoint(leader))).map((s) => s.id).sort()).toEqual([leader.name, other.name].sort());
  }, 60_000);

  test("removed while it was down, it hears of it from the others when it starts again, and stops", async () => {
    const cluster = newCluster(124);
    await cluster.startAll();
    const leader = await formed(cluster);
    const removed = cluster.members.find((m) => m !== leader)!;
    await cluster.kill(removed);
    await call(cluster.endpoint(leader), "dkv.v1.MembershipAPI/LeaveServer", { id: removed.name });
    await setKey(cluster.endpoint(leader), "while-down", "1");

    cluster.start(removed);
    expect(await exitOf(cluster, removed, 15_000)).toBe(1);
    const said = cluster.logs(removed, 5);
    expect(said).toMatch(/was removed from the cluster \(member n\d says so\)/);
    expect(cluster.allLogs()).toContain(`a removed member still sends raft messages; telling it that it was removed member=${removed.name}`);
    // It did not disturb the others: same leader, writes go on.
    expect((await leaderOf(cluster))?.name).toBe(leader.name);
    await setKey(cluster.endpoint(leader), "after", "2");
  }, 60_000);

  test("added back under its name with an empty data dir, it replays its old removal on the way and stays", async () => {
    const cluster = newCluster(128);
    await cluster.startAll();
    const leader = await formed(cluster);
    const member = cluster.members.find((m) => m !== leader)!;
    await call(cluster.endpoint(leader), "dkv.v1.MembershipAPI/LeaveServer", { id: member.name });
    expect(await exitOf(cluster, member, 10_000)).toBe(1);
    rmSync(member.dataDir, { recursive: true, force: true });
    await setKey(cluster.endpoint(leader), "while-out", "1");

    await call(cluster.endpoint(leader), "dkv.v1.MembershipAPI/JoinServer", {
      id: member.name,
      address: cluster.peerAddress(member),
      rpcAddress: `${member.host}:${member.clientPort}`,
    });
    cluster.start(member, ["--initial-cluster", cluster.initialCluster(), "--initial-cluster-state", "existing"]);
    await formed(cluster);
    await waitFor("the member to catch up", 10_000, async () => (await getKey(cluster.endpoint(member), "while-out", "serializable")) === "1" || undefined);
    // Past two election timeouts (the wait before its own tombstone would count), it still serves.
    const started = performance.now();
    while (performance.now() - started < 2500) {
      await setKey(cluster.endpoint(member), "after", String(performance.now()));
      await Bun.sleep(100);
    }
    expect(member.process).toBeDefined();
    expect(cluster.logs(member, 200)).not.toContain("was removed from the cluster");
  }, 60_000);

  test("removing the leader hands the lead to another member first, so the rest never stand without one", async () => {
    const cluster = newCluster(132);
    await cluster.startAll();
    const leader = await formed(cluster);
    const asked = cluster.members.find((m) => m !== leader)!;
    await call(cluster.endpoint(asked), "dkv.v1.MembershipAPI/LeaveServer", { id: leader.name });
    // Proposed by the new leader: as soon as the removal is done, the others already follow it.
    const after = await servers(cluster.endpoint(asked));
    expect(after.map((s) => s.id)).not.toContain(leader.name);
    expect(after.filter((s) => s.isLeader)).toHaveLength(1);
    expect(cluster.logs(asked, 50)).toContain(`moved the leadership away from a member before removing it member=${leader.name}`);
    expect(await exitOf(cluster, leader, 10_000)).toBe(1);
    await setKey(cluster.endpoint(asked), "after", "1");
  }, 60_000);

  test("a voter restarted on a wiped data dir stops at the leader's first heartbeat instead of voting with a blank memory", async () => {
    const cluster = newCluster(136);
    await cluster.startAll();
    const leader = await formed(cluster);
    for (let i = 0; i < 20; i++) await setKey(cluster.endpoint(leader), `k${i}`, String(i));
    const wiped = cluster.members.find((m) => m !== leader)!;
    await cluster.kill(wiped);
    rmSync(wiped.dataDir, { recursive: true, force: true });
    cluster.start(wiped, ["--initial-cluster", cluster.initialCluster(), "--initial-cluster-state", "existing"]);
    expect(await exitOf(cluster, wiped, 10_000)).toBe(1);
    const said = cluster.logs(wiped, 5);
    expect(said).toMatch(new RegExp(`dkv: this member's raft log ends at index \\d+, but the leader ${leader.name} knows it had acknowledged entries up to \\d+`));
    expect(said).toContain(`Remove it (dkv member remove ${wiped.name})`);
    await setKey(cluster.endpoint(leader), "after", "1");
  }, 60_000);
});
