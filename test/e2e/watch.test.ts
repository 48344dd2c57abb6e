// `dkv watch` against a real 3-member cluster of compiled binaries: the
// changes of a prefix arrive in order on a follower, a past revision
// replays, the watch carries on at another member when its member is
// killed (nothing lost, nothing twice), and a watch a member refuses is a
// one-line error with exit 1.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { BINARY, Cluster, leaderOf, servers, waitFor, type Member, runCli as dkv, runCliOk as ok } from "./cluster.ts";

let cluster: Cluster;
const watchers: Subprocess[] = [];
const addr = (m: Member) => `${m.host}:${m.clientPort}`;

beforeAll(async () => {
  cluster = new Cluster({ size: 3, firstHost: 81 });
  await cluster.startAll();
  // Members join one by one: every test here needs all three as voters.
  await waitFor("three voters and a leader", 30_000, async () => {
    const leader = await leaderOf(cluster);
    return leader && (await servers(cluster.endpoint(leader))).filter((s) => !s.isLearner).length === 3 ? leader : undefined;
  });
}, 40_000);

afterAll(async () => {
  for (const proc of watchers) proc.kill("SIGKILL");
  await cluster?.stopAll();
  cluster?.cleanup();
});

/** dkv_watch_watchers from a member's /metrics. */
async function watchersOn(m: Member): Promise<number> {
  const text = await (await fetch(`http://${addr(m)}/metrics`)).text();
  return Number(/^dkv_watch_watchers (\S+)$/m.exec(text)?.[1] ?? NaN);
}

/** Starts `dkv watch ...` and resolves once it says the watch is in place. */
async function startWatch(args: string[]): Promise<{ proc: Subprocess<"ignore", "pipe", "pipe">; stdout: Promise<string>; stderr: string[] }> {
  const proc = Bun.spawn([BINARY, "watch", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  watchers.push(proc);
  const stderr: string[] = [];
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) stderr.push(decoder.decode(chunk));
  })();
  const stdout = new Response(proc.stdout).text();
  await waitFor("the watch to be in place", 15_000, () => stderr.join("").includes("follow (Ctrl-C to stop)") || undefined).catch((error) => {
    throw new Error(`${error.message}; stderr: ${stderr.join("")}`);
  });
  return { proc, stdout, stderr };
}

async function finished(watch: { proc: Subprocess; stdout: Promise<string>; stderr: string[] }, timeoutMs = 15_000): Promise<{ code: number; lines: string[] }> {
  const timer = setTimeout(() => watch.proc.kill("SIGKILL"), timeoutMs);
  const code = await watch.proc.exited;
  clearTimeout(timer);
  const out = await watch.stdout;
  if (code !== 0) throw new Error(`dkv watch exited ${code}: ${watch.stderr.join("")}`);
  return { code, lines: out.trimEnd().split("\n").filter((line) => line !== "") };
}

describe("dkv watch", () => {
  test("a follower reports the prefix's changes in order, then exits after --count", async () => {
    const leader = (await leaderOf(cluster))!;
    const follower = cluster.members.find((m) => m.name !== leader.name)!;
    const watch = await startWatch(["app/", "--prefix", "--count", "3", "--endpoints", addr(follower)]);
    expect(await watchersOn(follower)).toBe(1);
    ok("set", "app/a", "1", "--endpoints", addr(leader));
    ok("set", "other", "x", "--endpoints", addr(leader));
    ok("del", "app/a", "--endpoints", addr(leader));
    ok("set", "app/b", "two words", "--endpoints", addr(leader));
    const { lines } = await finished(watch);
    expect(lines.map((line) => line.replace(/ revision=\d+/, "").replace(/ version=\d+/, ""))).toEqual(['put "app/a" 1', 'delete "app/a"', 'put "app/b" two words']);
    const revisions = lines.map((line) => Number(/revision=(\d+)/.exec(line)![1]));
    expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
    // The member lets go of a watch whose client has gone.
    await waitFor("the follower to drop the finished watch", 10_000, async () => ((await watchersOn(follower)) === 0) || undefined);
  }, 40_000);

  test("--rev replays from a past revision; --output json gives one document per line", async () => {
    const leader = (await leaderOf(cluster))!;
    const first = JSON.parse(ok("set", "replay/k", "one", "--endpoints", addr(leader), "--output", "json")) as { mod_revision: number };
    ok("set", "replay/k", "two", "--endpoints", addr(leader));
    const from = first.mod_revision;
    const watch = await startWatch(["replay/k", "--rev", String(from), "--count", "2", "--output", "json", "--endpoints", addr(leader)]);
    const { lines } = await finished(watch);
    const events = lines.map((line) => JSON.parse(line) as { type: string; key: string; value: string; mod_revision: number; version: number });
    expect(events.map((e) => [e.type, e.key, e.value, e.version])).toEqual([
      ["put", "replay/k", "one", 1],
      ["put", "replay/k", "two", 2],
    ]);
    expect(events[0]!.mod_revision).toBe(from);

    // --prev-kv: each change with the value before it (none before the first put).
    const withPrevious = await startWatch(["replay/k", "--rev", String(from), "--count", "3", "--prev-kv", "--endpoints", addr(leader)]);
    ok("del", "replay/k", "--endpoints", addr(leader));
    const replayed = (await finished(withPrevious)).lines;
    expect(replayed.map((line) => line.replace(/ revision=\d+/, ""))).toEqual([
      'put "replay/k" one version=1',
      'put "replay/k" two version=2 previous=one',
      'delete "replay/k" previous=two',
    ]);
  }, 40_000);

  test("--range-end watches [KEY, END); --puts-only leaves the deletes out", async () => {
    const leader = (await leaderOf(cluster))!;
    const watch = await startWatch(["r/b", "--range-end", "r/d", "--puts-only", "--count", "2", "--endpoints", addr(leader)]);
    expect(watch.stderr.join("")).toContain('keys in ["r/b", "r/d")');
    for (const key of ["r/a", "r/b", "r/d"]) ok("set", key, "1", "--endpoints", addr(leader));
    ok("del", "r/b", "--endpoints", addr(leader));
    ok("set", "r/c", "2", "--endpoints", addr(leader));
    const { lines } = await finished(watch);
    expect(lines.map((line) => line.replace(/ revision=\d+/, ""))).toEqual(['put "r/b" 1 version=1', 'put "r/c" 2 version=1']);
    const both = dkv("watch", "r/", "--prefix", "--range-end", "r/z", "--endpoints", addr(leader));
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("give --prefix or --range-end, not both");
  }, 40_000);

  test("when its member is killed the watch goes on at another one: nothing lost, nothing twice", async () => {
    const leader = (await leaderOf(cluster))!;
    const [victim, other] = cluster.members.filter((m) => m.name !== leader.name) as [Member, Member];
    const watch = await startWatch(["failover/", "--prefix", "--count", "6", "--endpoints", `${addr(victim)},${addr(other)}`, "--command-timeout", "10s"]);
    for (const i of [1, 2, 3]) ok("set", `failover/${i}`, `v${i}`, "--endpoints", addr(leader));
    await cluster.kill(victim);
    for (const i of [4, 5, 6]) ok("set", `failover/${i}`, `v${i}`, "--endpoints", addr(leader));
    const { lines } = await finished(watch, 30_000);
    expect(lines.map((line) => /"failover\/(\d)"/.exec(line)![1])).toEqual(["1", "2", "3", "4", "5", "6"]);
  }, 60_000);

  test("a watch the member refuses is one line on stderr and exit 1", async () => {
    const member = (await leaderOf(cluster))!;
    const refused = dkv("watch", "", "--endpoints", addr(member));
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe("");
    expect(refused.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(refused.stderr).toContain("key must not be empty");
  });
});
