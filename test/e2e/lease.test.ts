// Leases against a real 3-member cluster of compiled binaries, through the
// CLI: a key set with --lease lives as long as `dkv lease keep-alive` runs,
// also across a kill -9 of the leader; once the keep-alives stop it is
// deleted on every member and a watcher sees the delete. A lease survives
// a kill -9 of every member and ends on the clock of the next leader.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { BINARY, Cluster, getKey, leaderOf, servers, waitFor, type Member, runCli as dkv, runCliOk as ok } from "./cluster.ts";

let cluster: Cluster;
const children: Subprocess[] = [];
const addr = (m: Member) => `${m.host}:${m.clientPort}`;

beforeAll(async () => {
  cluster = new Cluster({ size: 3, firstHost: 91 });
  await cluster.startAll();
  await waitForThreeVoters();
}, 40_000);

afterAll(async () => {
  for (const proc of children) proc.kill("SIGKILL");
  await cluster?.stopAll();
  cluster?.cleanup();
});

function waitForThreeVoters(): Promise<Member> {
  return waitFor("three voters and a leader", 30_000, async () => {
    const leader = await leaderOf(cluster);
    return leader && (await servers(cluster.endpoint(leader))).filter((s) => !s.isLearner).length === 3 ? leader : undefined;
  });
}

function spawn(args: string[]): { proc: Subprocess<"ignore", "pipe", "pipe">; stdout: Promise<string>; stderr: Promise<string> } {
  const proc = Bun.spawn([BINARY, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  children.push(proc);
  return { proc, stdout: new Response(proc.stdout).text(), stderr: new Response(proc.stderr).text() };
}

/** A gauge from a member's /metrics. */
async function gauge(m: Member, name: string): Promise<number> {
  const text = await (await fetch(`http://${addr(m)}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
}

/** Whether every running member (serializable reads: each its own state) lacks the key. */
async function goneEverywhere(key: string, members: Member[]): Promise<boolean> {
  for (const m of members) if ((await getKey(cluster.endpoint(m), key, "serializable")) !== undefined) return false;
  return true;
}

describe("leases", () => {
  test("a key lives while `dkv lease keep-alive` runs, through a kill -9 of the leader; then it goes everywhere and a watcher sees the delete", async () => {
    const all = cluster.members.map(addr).join(",");
    const leader = (await leaderOf(cluster))!;
    const follower = cluster.members.find((m) => m.name !== leader.name)!;
    const id = ok("lease", "grant", "2", "--endpoints", addr(follower)).trim();
    expect(id).toMatch(/^[1-9]\d*$/);
    expect(ok("set", "svc/a", "up", "--lease", id, "--endpoints", addr(follower))).toBe("OK\n");
    expect(ok("get", "svc/a", "--revision", "--endpoints", addr(leader))).toContain(`lease=${id}`);
    expect(ok("lease", "ttl", id, "--keys", "--endpoints", all)).toMatch(new RegExp(`^lease ${id}: granted ttl 2 s, remaining [0-2] s\\nsvc/a\\n$`));

    expect(await gauge(leader, "dkv_lease_timed")).toBe(1);
    expect(await gauge(follower, "dkv_lease_timed")).toBe(0);
    await waitFor("the follower to apply the grant", 5000, async () => (await gauge(follower, "dkv_lease_leases")) === 1 || undefined);

    const keeper = spawn(["lease", "keep-alive", id, "--endpoints", all]);
    const watch = spawn(["watch", "svc/", "--prefix", "--count", "1", "--endpoints", addr(follower)]);

    await cluster.kill(leader);
    const survivors = cluster.members.filter((m) => m !== leader);
    await waitFor("a new leader", 15_000, () => leaderOf(cluster, survivors));
    // Three TTLs after the crash: the keep-alives reached the new leader in time.
    await Bun.sleep(6000);
    expect(await getKey(cluster.endpoint(follower), "svc/a")).toBe("up");
    cluster.start(leader);

    keeper.proc.kill("SIGTERM");
    expect(await keeper.proc.exited).toBe(0);
    expect(await keeper.stdout).toContain(`lease ${id} kept alive, ttl 2 s`);
    const stoppedAt = Date.now();
    await waitFor("the key to go with its lease on every member", 20_000, async () => (await goneEverywhere("svc/a", cluster.members)) || undefined);
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(1000);

    const timer = setTimeout(() => watch.proc.kill("SIGKILL"), 10_000);
    expect(await watch.proc.exited).toBe(0);
    clearTimeout(timer);
    expect(await watch.stdout).toMatch(/^delete "svc\/a" revision=\d+\n$/);

    const gone = dkv("lease", "ttl", id, "--endpoints", all);
    expect(gone.code).toBe(1);
    expect(gone.stderr.trim().split("\n")).toHaveLength(1);
    expect(gone.stderr).toContain(`lease ${id} not found`);
    const late = dkv("lease", "keep-alive", id, "--once", "--endpoints", all);
    expect(late.code).toBe(1);
    expect(late.stderr).toContain("has ended");
  }, 90_000);

  test("a lock: `dkv cas --expect-revision 0 --lease` takes it only while it is free; revoking the holder's lease frees it", async () => {
    await waitForThreeVoters();
    const all = cluster.members.map(addr).join(",");
    const first = ok("lease", "grant", "60", "--endpoints", all).trim();
    const second = ok("lease", "grant", "60", "--endpoints", all).trim();
    expect(ok("cas", "locks/job", "worker-1", "--expect-revision", "0", "--lease", first, "--endpoints", all)).toBe("OK\n");
    const listed = ok("lease", "list", "--endpoints", all);
    expect(listed.split("\n")[0]).toMatch(/^ID\s+GRANTED TTL$/);
    for (const id of [first, second]) expect(listed).toMatch(new RegExp(`^${id}\\s+60 s$`, "m"));
    const refused = dkv("cas", "locks/job", "worker-2", "--expect-revision", "0", "--lease", second, "--endpoints", all);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("worker-1");
    expect(ok("lease", "revoke", first, "--endpoints", all)).toBe(`lease ${first} revoked, 1 key(s) deleted\n`);
    expect(ok("cas", "locks/job", "worker-2", "--expect-revision", "0", "--lease", second, "--endpoints", all)).toBe("OK\n");
    expect(ok("lease", "ttl", second, "--keys", "--output", "json", "--endpoints", all)).toContain('"keys": [\n    "locks/job"\n  ]');
    const gone = dkv("cas", "locks/other", "x", "--expect-revision", "0", "--lease", first, "--endpoints", all);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`lease ${first} not found`);
    ok("lease", "revoke", second, "--endpoints", all);
  }, 60_000);

  test("a lease and its keys survive kill -9 of every member; after the restart it ends on the new leader's clock", async () => {
    await waitForThreeVoters();
    const all = cluster.members.map(addr).join(",");
    const id = ok("lease", "grant", "3", "--endpoints", all).trim();
    ok("set", "job/lock", "owner-1", "--lease", id, "--endpoints", all);
    ok("set", "job/plain", "stays", "--endpoints", all);
    await Promise.all(cluster.members.map((m) => cluster.kill(m)));
    await cluster.startAll();
    const leader = await waitFor("a leader after the restart", 30_000, () => leaderOf(cluster));
    const electedAt = Date.now();
    expect(await getKey(cluster.endpoint(leader), "job/lock")).toBe("owner-1");
    await waitFor("the lease to end after the restart", 20_000, async () => (await goneEverywhere("job/lock", cluster.members)) || undefined);
    expect(Date.now() - electedAt).toBeGreaterThanOrEqual(2000);
    expect(await getKey(cluster.endpoint(leader), "job/plain")).toBe("stays");
    const revoke = dkv("lease", "revoke", id, "--endpoints", all);
    expect(revoke.code).toBe(1);
    expect(revoke.stderr).toContain("not_found");
  }, 90_000);
});
