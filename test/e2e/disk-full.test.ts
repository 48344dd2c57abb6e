// A member whose disk fills up: its raft log write fails, and it must end
// with a one-line reason and exit code 1 (so a supervisor restarts it and an
// operator sees why) instead of lingering half-alive. The other two go on
// taking writes; once there is room again the member restarts from its data
// dir and catches up, every acknowledged write in place.
//
// Also: a backup restored onto a disk too small for it, and a data dir on a
// read-only file system, each refused in one line that names the place.
//
// The disks are small tmpfs mounts this test makes (root is available here,
// as for the chaos test's network namespaces) and unmounts afterwards.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { existsSync, readdirSync } from "node:fs";
import { Cluster, freePort, getKey, leaderOf, runCli, servers, setKey, waitFor, type Member } from "./cluster.ts";

const DISK_BYTES = 4 * 1024 * 1024;
/** Values this size fill the small disk in ~70 writes. */
const VALUE_BYTES = 60 * 1024;
/** How long the writes may go on waiting for the small disk's member to exit. */
const FILL_DEADLINE_MS = 60_000;

let cluster: Cluster;
let disk: string;
const mounts: string[] = [];
let small: Member;

/** A tmpfs of `bytes` at a new directory under the cluster's root. */
function mountTmpfs(name: string, options: string): string {
  const at = join(cluster.root, name);
  mkdirSync(at);
  run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", at]);
  mounts.push(at);
  return at;
}

function run(args: string[]): void {
  const result = Bun.spawnSync(args, { stderr: "pipe", timeout: 10_000 });
  if (result.exitCode !== 0) throw new Error(`${args.join(" ")} failed: ${result.stderr.toString().trim()}`);
}

function valueOf(i: number): string {
  return `${i}:`.padEnd(VALUE_BYTES, String.fromCharCode(97 + (i % 26)));
}

beforeAll(async () => {
  cluster = new Cluster({ size: 3, firstHost: 111 });
  disk = mountTmpfs("small-disk", `size=${DISK_BYTES}`);
  small = cluster.members[2]!;
  small.dataDir = join(disk, small.name);
  await cluster.startAll();
  const first = cluster.endpoint(cluster.members[0]!);
  await waitFor("a leader", 30_000, () => setKey(first, "probe", "1").then(() => true, () => undefined), 200);
  // The first test wants the small disk on a follower.
  if ((await leaderOf(cluster)) === small) runCli("member", "move-leader", cluster.members[0]!.name, "--endpoints", `${cluster.members[0]!.host}:${cluster.members[0]!.clientPort}`);
  await waitFor("a leader other than the small disk's member", 15_000, async () => {
    const leader = await leaderOf(cluster);
    return leader && leader !== small ? true : undefined;
  });
}, 60_000);

afterAll(async () => {
  await cluster?.stopAll();
  for (const at of mounts) Bun.spawnSync(["umount", "-l", at], { timeout: 10_000 });
  cluster?.cleanup();
});

/**
 * Writes 60-KB values through the members other than `small` until `small`
 * (its data dir on `disk`) has exited and five more writes went through;
 * then gives `disk` room, restarts `small` and checks it holds every
 * acknowledged write and takes new ones.
 */
async function fillUntilExitThenRecover(on: Cluster, small: Member, disk: string): Promise<void> {
  const others = on.members.filter((m) => m !== small);
  const acknowledged: number[] = [];
  let writes = 0;
  let afterExit = 0;
  const deadline = Date.now() + FILL_DEADLINE_MS;
  while (Date.now() < deadline && afterExit < 5) {
    const i = writes++;
    const target = others[i % others.length]!;
    try {
      await setKey(on.endpoint(target), `big/${i}`, valueOf(i));
      acknowledged.push(i);
      if (small.process?.exitCode !== null && small.process?.exitCode !== undefined) afterExit++;
    } catch {
      // The member that exited may have been the leader: a new one is elected within a few seconds.
      await Bun.sleep(200);
    }
  }
  const code = await small.process?.exited;
  expect(code, on.logs(small)).toBe(1);
  expect(small.output.join("")).toMatch(/^dkv: writing the raft log failed; stopping: database or disk is full$/m);
  expect(afterExit).toBe(5);

  // Room again: the member starts from its data dir and catches up.
  run(["mount", "-o", `remount,size=${16 * DISK_BYTES}`, disk]);
  on.start(small);
  const endpoint = on.endpoint(small);
  const last = acknowledged[acknowledged.length - 1]!;
  await waitFor("the restarted member to catch up", 30_000, () =>
    getKey(endpoint, `big/${last}`, "serializable").then((v) => (v === valueOf(last) ? true : undefined), () => undefined),
  );
  const mismatched: number[] = [];
  for (const i of acknowledged) if ((await getKey(endpoint, `big/${i}`, "serializable")) !== valueOf(i)) mismatched.push(i);
  expect(mismatched).toEqual([]);
  // And it takes writes again.
  await setKey(endpoint, "after", "room");
  expect(await getKey(on.endpoint(others[0]!), "after")).toBe("room");
}

describe("disks that are full or read-only", () => {
  test("a follower whose disk fills up exits 1 with the reason, the others keep writing, and after a restart with room it has every acknowledged write", async () => {
    expect(await leaderOf(cluster)).not.toBe(small);
    await fillUntilExitThenRecover(cluster, small, disk);
  }, 120_000);

  test("the same for the leader: it goes, a new leader takes the writes, and it comes back with all of them", async () => {
    const second = new Cluster({ size: 3, firstHost: 114 });
    const leaderDisk = mountTmpfs("leader-disk", `size=${DISK_BYTES}`);
    const victim = second.members[0]!;
    victim.dataDir = join(leaderDisk, victim.name);
    try {
      await second.startAll();
      const all = second.members.map((m) => `${m.host}:${m.clientPort}`).join(",");
      await waitFor("three voters and the small disk's member leading", 30_000, async () => {
        const leader = await leaderOf(second);
        if (leader === victim) return (await servers(second.endpoint(victim))).filter((s) => !s.isLearner).length === 3 || undefined;
        if (leader) runCli("member", "move-leader", victim.name, "--endpoints", all);
        return undefined;
      }, 500);
      await fillUntilExitThenRecover(second, victim, leaderDisk);
    } finally {
      await second.stopAll();
      second.cleanup();
    }
  }, 120_000);

  test("a backup restored onto a disk too small for it: one line naming the data dir, nothing left there", () => {
    const backup = join(cluster.root, "backup.db");
    const endpoints = cluster.members.filter((m) => m.process).map((m) => `${m.host}:${m.clientPort}`).join(",");
    expect(runCli("snapshot", "save", backup, "--endpoints", endpoints).code).toBe(0);
    const tiny = mountTmpfs("tiny-disk", "size=1m");
    const target = join(tiny, "restored");
    const restore = runCli("snapshot", "restore", backup, "--data-dir", target, "--name", "r0", "--initial-cluster", "r0=127.0.0.1:2380");
    expect({ code: restore.code, stderr: restore.stderr.trimEnd() }).toEqual({ code: 1, stderr: `dkv: restoring ${backup} into ${target} failed: database or disk is full` });
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(tiny)).toEqual([]);
  }, 60_000);

  test("a data dir on a read-only file system: one line, exit 1", () => {
    const readOnly = mountTmpfs("read-only", "size=1m,ro");
    const dataDir = join(readOnly, "d");
    const serve = runCli("serve", "--data-dir", dataDir, "--listen-client-address", `127.0.0.1:${freePort()}`, "--listen-peer-address", `127.0.0.1:${freePort()}`);
    expect({ code: serve.code, line: serve.stderr.trimEnd().split("\n").pop() }).toEqual({ code: 1, line: `dkv: cannot create the data dir ${dataDir}: read-only file system` });
  });
});
