// Real `dkv serve` processes of the compiled binary on loopback: a cluster
// forms from --initial-cluster, survives kill -9 of its leader, grows by a
// member that catches up through a snapshot, and shrinks again.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, call, Cluster, formed, freePort, getKey, leaderOf, servers, setKey, waitFor, type Member } from "./cluster.ts";
import { clustersStoppedAfterEach } from "./tracked-clusters.ts";

const makeCluster = clustersStoppedAfterEach();
const newCluster = (size: number, flags: string[] = []): Cluster => makeCluster({ size, flags });

describe("a three-member cluster", () => {
  test("elects a leader; a write through a follower is readable, linearizably, from every member", async () => {
    const cluster = newCluster(3);
    await cluster.startAll();
    const leader = await formed(cluster);
    const follower = cluster.members.find((m) => m !== leader)!;
    await setKey(cluster.endpoint(follower), "greeting", "hello");
    for (const m of cluster.members) expect(await getKey(cluster.endpoint(m), "greeting")).toBe("hello");
    const members = await servers(cluster.endpoint(follower));
    expect(members.map((s) => s.id).sort()).toEqual(["n0", "n1", "n2"]);
    expect(members.filter((s) => s.isLeader).map((s) => s.id)).toEqual([leader.name]);
  }, 60_000);

  test("kill -9 of the leader: a new leader within 3 s, writes continue, the old leader catches up after restart", async () => {
    const cluster = newCluster(3);
    await cluster.startAll();
    const leader = await formed(cluster);
    await setKey(cluster.endpoint(leader), "before", "1");
    await cluster.kill(leader);
    const killedAt = Date.now();
    const rest = cluster.members.filter((m) => m !== leader);
    const next = await waitFor("a new leader", 10_000, () => leaderOf(cluster, rest), 50);
    const electedMs = Date.now() - killedAt;
    // The members' logs say which campaigns failed, and why, if this is slow.
    if (electedMs >= 3000) throw new Error(`a new leader took ${electedMs} ms\n${cluster.allLogs()}`);
    await setKey(cluster.endpoint(next), "after", "2");

    cluster.start(leader);
    await waitFor("the restarted member to catch up", 15_000, async () => (await getKey(cluster.endpoint(leader), "after", "serializable")) === "2");
    expect(await getKey(cluster.endpoint(leader), "before", "serializable")).toBe("1");
  }, 60_000);
});

describe("graceful shutdown", () => {
  test("SIGTERM on the leader hands leadership over and exits 0 within a few seconds; nothing is lost", async () => {
    const cluster = newCluster(3);
    await cluster.startAll();
    const leader = await formed(cluster);
    for (let i = 0; i < 20; i++) await setKey(cluster.endpoint(leader), `s${i}`, `${i}`);
    const started = Date.now();
    const code = await cluster.kill(leader, "SIGTERM");
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(cluster.logs(leader, 50)).toContain("transferring leadership before shutdown");
    const rest = cluster.members.filter((m) => m !== leader);
    const next = await waitFor("the new leader", 5000, () => leaderOf(cluster, rest));
    for (let i = 0; i < 20; i++) expect(await getKey(cluster.endpoint(next), `s${i}`)).toBe(`${i}`);
  }, 60_000);
});

describe("membership", () => {
  test("a member restarted at another peer address says that the others still dial the recorded one; member update fixes it", async () => {
    const cluster = newCluster(3);
    await cluster.startAll();
    const leader = await formed(cluster);
    const moved = cluster.members.find((m) => m !== leader)!;
    const recorded = cluster.peerAddress(moved);
    await cluster.kill(moved);
    moved.peerPort = freePort(moved.host);
    cluster.start(moved);
    const line = `the cluster records this member's peer address as ${recorded}, but it now advertises ${cluster.peerAddress(moved)} (--advertise-peer-address)`;
    await waitFor("the warning", 15_000, () => cluster.logs(moved, 50).includes(line) || undefined);
    expect(cluster.logs(moved, 50)).toContain(`dkv member update ${moved.name} ${cluster.peerAddress(moved)}`);
    expect(cluster.logs(leader, 200)).not.toContain("the cluster records this member's");

    // Recording the new address (etcdctl member update) lets the others reach it again.
    await call(cluster.endpoint(leader), "dkv.v1.MembershipAPI/UpdateServer", { id: moved.name, address: cluster.peerAddress(moved) });
    expect((await servers(cluster.endpoint(leader))).find((s) => s.id === moved.name)?.raftAddress).toBe(cluster.peerAddress(moved));
    await setKey(cluster.endpoint(leader), "after-move", "1");
    await waitFor("the moved member to catch up", 15_000, async () => (await getKey(cluster.endpoint(moved), "after-move", "serializable")) === "1" || undefined);
  }, 60_000);


  test("a fourth member joins an existing cluster, catches up through a snapshot; LeaveServer removes a member", async () => {
    const cluster = newCluster(3, ["--snapshot-count", "20"]);
    await cluster.startAll();
    const leader = await formed(cluster);
    for (let i = 0; i < 60; i++) await setKey(cluster.endpoint(leader), `k${i}`, `v${i}`);

    const fourth = cluster.addSpec();
    await call(cluster.endpoint(leader), "dkv.v1.MembershipAPI/JoinServer", {
      id: fourth.name,
      address: `${fourth.host}:${fourth.peerPort}`,
      rpcAddress: `${fourth.host}:${fourth.clientPort}`,
    });
    cluster.start(fourth, ["--initial-cluster", cluster.initialCluster(), "--initial-cluster-state", "existing", "--snapshot-count", "20"]);
    await waitFor("the new member to have every key", 20_000, async () => (await getKey(cluster.endpoint(fourth), "k59", "serializable")) === "v59");
    await formed(cluster, 4);
    expect(cluster.logs(fourth, 200)).toContain("installed snapshot");
    // It joined with no cluster id and took the one of the members it was sent to.
    const clusterIdOf = async (m: Member) => (await call<{ clusterId?: string }>(cluster.endpoint(m), "dkv.v1.MaintenanceAPI/Status", {})).clusterId;
    expect(await clusterIdOf(leader)).toMatch(/^[0-9a-f]{16}$/);
    expect(await clusterIdOf(fourth)).toBe(await clusterIdOf(leader));

    const leaving = cluster.members.find((m) => m !== leader && m !== fourth)!;
    await call(cluster.endpoint(leader), "dkv.v1.MembershipAPI/LeaveServer", { id: leaving.name });
    await waitFor("the member to be gone", 10_000, async () => !(await servers(cluster.endpoint(leader))).some((s) => s.id === leaving.name));
    await setKey(cluster.endpoint(fourth), "after-leave", "ok");
    expect(await getKey(cluster.endpoint(leader), "after-leave")).toBe("ok");
  }, 90_000);
});

describe("dkv serve with no flags", () => {
  const cwd = mkdtempSync(join(tmpdir(), "dkv-default-"));
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  test("runs a single-node store on 127.0.0.1:2379 with its data in ./dkv-data", async () => {
    const proc = Bun.spawn([BINARY, "serve"], { cwd, stdout: "pipe", stderr: "pipe" });
    try {
      await waitFor("the default store to answer", 15_000, async () => {
        await setKey("http://127.0.0.1:2379", "k", "v");
        return true;
      });
      expect(await getKey("http://127.0.0.1:2379", "k")).toBe("v");
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      expect(await Bun.file(join(cwd, "dkv-data/dkv.db")).exists()).toBe(true);
    } finally {
      proc.kill("SIGKILL");
    }
  }, 30_000);
});
