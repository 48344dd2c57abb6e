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
import { Cluster, freePort, getKey, runCli, setKey, waitFor, type Member } from "./cluster.ts";

const DISK_BYTES = 4 * 1024 * 1024;
/** Values this size fill the small disk in ~70 writes. */
const VALUE_BYTES = 60 * 1024;
const MAX_WRITES = 400;

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
}, 60_000);

afterAll(async () => {
  await cluster?.stopAll();
  for (const at of mounts) Bun.spawnSync(["umount", "-l", at], { timeout: 10_000 });
  cluster?.cleanup();
});

describe("disks that are full or read-only", () => {
  test("a member whose disk fills up exits 1 with the reason, the others keep writing, and after a restart with room it has every acknowledged write", async () => {
    const others = cluster.members.filter((m) => m !== small);
    const acknowledged: number[] = [];
    let writes = 0;
    // Write until the small disk's member has gone, then a few more through the two left.
    let afterExit = 0;
    while (writes < MAX_WRITES && afterExit < 5) {
      const i = writes++;
      const target = others[i % others.length]!;
      try {
        await setKey(cluster.endpoint(target), `big/${i}`, valueOf(i));
        acknowledged.push(i);
        if (small.process?.exitCode !== null && small.process?.exitCode !== undefined) afterExit++;
      } catch {
        // The member that exited may have been the leader: a new one is elected within a few seconds.
        await Bun.sleep(200);
      }
    }
    const code = await small.process?.exited;
    expect(code, cluster.logs(small)).toBe(1);
    const output = small.output.join("");
    expect(output).toContain("writing the raft log failed; stopping");
    expect(output).toMatch(/^dkv: writing the raft log failed; stopping: database or disk is full$/m);
    expect(afterExit).toBe(5);

    // Room again: the member starts from its data dir and catches up.
    run(["mount", "-o", `remount,size=${16 * DISK_BYTES}`, disk]);
    cluster.start(small);
    const endpoint = cluster.endpoint(small);
    const last = acknowledged[acknowledged.length - 1]!;
    await waitFor("the restarted member to catch up", 30_000, () =>
      getKey(endpoint, `big/${last}`, "serializable").then((v) => (v === valueOf(last) ? true : undefined), () => undefined),
    );
    const mismatched: number[] = [];
    for (const i of acknowledged) if ((await getKey(endpoint, `big/${i}`, "serializable")) !== valueOf(i)) mismatched.push(i);
    expect(mismatched).toEqual([]);
    // And it takes writes again.
    await setKey(endpoint, "after", "room");
    expect(await getKey(cluster.endpoint(others[0]!), "after")).toBe("room");
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
