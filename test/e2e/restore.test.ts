// Backup and restore with the compiled binary, as an operator would do it: a
// 3-member cluster with data -> `dkv snapshot save` -> `dkv snapshot restore`
// into three fresh dirs with a new membership -> `dkv serve` on them -> every
// key identical (value, revisions, version) on every member, new writes work.
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, Cluster, formed, waitFor, type Member } from "./cluster.ts";

const clusters: Cluster[] = [];
afterAll(async () => {
  for (const cluster of clusters.splice(0)) {
    await cluster.stopAll();
    cluster.cleanup();
  }
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the binary to completion (killed after timeoutMs). */
async function dkv(args: string[], options: { stdin?: string; timeoutMs?: number } = {}): Promise<Run> {
  const proc = Bun.spawn([BINARY, ...args], {
    stdin: options.stdin === undefined ? "ignore" : new TextEncoder().encode(options.stdin),
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", DKV_ENDPOINTS: "" },
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 20_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

async function ok(args: string[], stdin?: string): Promise<string> {
  const run = await dkv(args, stdin === undefined ? {} : { stdin });
  if (run.code !== 0) throw new Error(`dkv ${args.join(" ")} exited ${run.code}: ${run.stderr}`);
  return run.stdout;
}

const endpointsOf = (cluster: Cluster, members: Member[] = cluster.members) => members.map((m) => `${m.host}:${m.clientPort}`).join(",");

interface JsonKv {
  key: string;
  value?: string;
  value_base64?: string;
  create_revision: number;
  mod_revision: number;
  version: number;
}

async function listAll(endpoints: string, consistency = "l"): Promise<JsonKv[]> {
  const doc = JSON.parse(await ok(["list", "--endpoints", endpoints, "--consistency", consistency, "--output", "json"])) as { kvs: JsonKv[]; more: boolean };
  expect(doc.more).toBe(false);
  return doc.kvs;
}

describe("snapshot restore: usage errors exit 2 before reading anything", () => {
  test("missing FILE or --data-dir, a --name not in --initial-cluster, bad --initial-cluster(-clients)", async () => {
    const never = join(tmpdir(), `dkv-restore-never-${process.pid}`);
    const cases: [string[], RegExp][] = [
      [["snapshot", "restore", "--data-dir", never], /missing argument FILE/],
      [["snapshot", "restore", "backup.db"], /--data-dir is required/],
      [["snapshot", "restore", "backup.db", "--data-dir", never, "--name", "a", "--initial-cluster", "b=127.0.0.1:2380"], /must list this member's --name "a"/],
      [["snapshot", "restore", "backup.db", "--data-dir", never, "--name", "a", "--initial-cluster", "a=nowhere"], /name=host:port|host:port/],
      [["snapshot", "restore", "backup.db", "--data-dir", never, "--name", "a", "--initial-cluster", "a=127.0.0.1:2380", "--initial-cluster-clients", "z=127.0.0.1:2379"], /"z", which is not in --initial-cluster/],
      [["snapshot", "restore", "backup.db", "--data-dir", never, "--output", "yaml"], /--output must be table or json/],
      [["snapshot", "restore", "backup.db", "--data-dir", never, "--bogus"], /unknown flag "--bogus"/],
    ];
    for (const [args, pattern] of cases) {
      const run = await dkv(args);
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: "" });
      expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(run.stderr).toMatch(pattern);
    }
    expect(existsSync(never)).toBe(false);
  });
});

describe("snapshot save -> restore -> a new cluster", () => {
  test("the restored cluster holds every key identically on every member, has the new membership, and takes writes", async () => {
    // ---- the old cluster, with history: overwrites, a delete, binary and stdin values ----
    const old = new Cluster({ size: 3, prefix: "o" });
    clusters.push(old);
    await old.startAll();
    await formed(old);
    const oldEndpoints = endpointsOf(old);
    for (let i = 0; i < 25; i++) await ok(["set", `k/${String(i).padStart(2, "0")}`, `value ${i}`, "--endpoints", oldEndpoints]);
    await ok(["set", "k/03", "rewritten", "--endpoints", oldEndpoints]);
    await ok(["set", "k/03", "rewritten again", "--endpoints", oldEndpoints]);
    await ok(["del", "k/07", "--endpoints", oldEndpoints]);
    await ok(["set", "multi", "-", "--endpoints", oldEndpoints], "line one\nline two\n");
    const before = await listAll(oldEndpoints);
    expect(before.length).toBe(25);
    expect(before.find((kv) => kv.key === "k/03")).toMatchObject({ value: "rewritten again", version: 3 });
    const oldStatus = JSON.parse(await ok(["status", "--endpoints", oldEndpoints, "--output", "json"])) as { endpoints: { cluster_id: string }[] };

    // ---- backup, verified by the client against the server's SHA-256 ----
    const file = join(old.root, "backup.db");
    const saved = JSON.parse(await ok(["snapshot", "save", file, "--endpoints", oldEndpoints, "--output", "json"])) as {
      path: string;
      sha256: string;
      size_bytes: number;
      index: number;
    };
    const bytes = readFileSync(file);
    expect(saved.size_bytes).toBe(bytes.length);
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(saved.sha256);
    expect(existsSync(`${file}.part`)).toBe(false);
    await old.stopAll();

    // ---- `dkv snapshot status` checks the file without restoring it ----
    const backupStatus = JSON.parse(await ok(["snapshot", "status", file, "--output", "json"])) as Record<string, unknown>;
    expect(backupStatus).toMatchObject({ bytes: bytes.length, sha256: saved.sha256, index: saved.index, keys: 25, cluster_id: oldStatus.endpoints[0]!.cluster_id });
    expect(backupStatus.voters).toEqual(["o0", "o1", "o2"]);
    const statusTable = await ok(["snapshot", "status", file]);
    expect(statusTable).toContain(`sha256 ${saved.sha256}`);
    expect(statusTable).toContain("25 keys; members o0, o1, o2");

    // ---- damaged backups are refused with one line naming the file ----
    const fresh = new Cluster({ size: 3, prefix: "r", firstHost: 4 });
    clusters.push(fresh);
    const initial = fresh.initialCluster();
    const clients = fresh.members.map((m) => `${m.name}=${m.host}:${m.clientPort}`).join(",");
    const restoreArgs = (m: Member, backup = file) => [
      "snapshot", "restore", backup, "--data-dir", m.dataDir, "--name", m.name,
      "--initial-cluster", initial, "--initial-cluster-token", "restored", "--initial-cluster-clients", clients,
    ];
    const truncated = join(old.root, "truncated.db");
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 1000));
    const corrupted = join(old.root, "corrupted.db");
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(flipped.length / 3)]! ^= 0x20;
    writeFileSync(corrupted, flipped);
    for (const [bad, why] of [[truncated, /damaged or incomplete/], [corrupted, /SHA-256 does not match/]] as const) {
      const checked = await dkv(["snapshot", "status", bad]);
      expect(checked.code).toBe(1);
      expect(checked.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(checked.stderr).toMatch(why);
      const run = await dkv(restoreArgs(fresh.members[0]!, bad));
      expect(run.code).toBe(1);
      expect(run.stdout).toBe("");
      expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(run.stderr).toContain(bad);
      expect(run.stderr).toMatch(why);
      expect(existsSync(fresh.members[0]!.dataDir)).toBe(false);
    }

    // ---- restore every member of the new cluster from the same file ----
    for (const m of fresh.members) {
      const out = JSON.parse(await ok([...restoreArgs(m), "--output", "json"])) as { cluster_id: string; backup_index: number; index: number; keys: number };
      expect(out).toMatchObject({ backup_index: saved.index, index: saved.index + 1, keys: 25 });
    }
    // A second restore into a used dir is refused and changes nothing.
    const again = await dkv(restoreArgs(fresh.members[1]!));
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already holds a dkv database/);
    expect(again.stderr.trimEnd().split("\n")).toHaveLength(1);

    // ---- the new cluster: same content, new membership ----
    await fresh.startAll();
    await formed(fresh);
    const freshEndpoints = endpointsOf(fresh);
    expect(await listAll(freshEndpoints)).toEqual(before);
    // Every member holds it, read locally.
    for (const m of fresh.members) expect(await listAll(endpointsOf(fresh, [m]), "s")).toEqual(before);

    const members = JSON.parse(await ok(["member", "list", "--endpoints", freshEndpoints, "--output", "json"])) as {
      members: { id: string; peer_address: string; client_address: string; is_learner: boolean }[];
    };
    expect(members.members.map((m) => ({ id: m.id, peer_address: m.peer_address, client_address: m.client_address, is_learner: m.is_learner }))).toEqual(
      fresh.members.map((m) => ({ id: m.name, peer_address: fresh.peerAddress(m), client_address: `${m.host}:${m.clientPort}`, is_learner: false })),
    );
    const status = JSON.parse(await ok(["status", "--endpoints", freshEndpoints, "--output", "json"])) as { endpoints: { cluster_id: string; member_id: string }[] };
    const clusterIds = new Set(status.endpoints.map((e) => e.cluster_id));
    expect(clusterIds.size).toBe(1);
    expect(clusterIds.has(oldStatus.endpoints[0]!.cluster_id)).toBe(false);
    // Discovery works from one endpoint: the advertised client addresses were restored.
    await ok(["health", "--endpoints", endpointsOf(fresh, [fresh.members[2]!])]);

    // ---- new writes continue above the backup's revisions ----
    await ok(["set", "after", "restore", "--endpoints", freshEndpoints]);
    await ok(["set", "k/03", "after restore", "--endpoints", freshEndpoints]);
    const after = JSON.parse(await ok(["get", "k/03", "--endpoints", freshEndpoints, "--output", "json"])) as JsonKv;
    const newest = Math.max(...before.map((kv) => kv.mod_revision));
    expect(after).toMatchObject({ value: "after restore", version: 4 });
    expect(after.mod_revision).toBeGreaterThan(saved.index + 1);
    expect(after.mod_revision).toBeGreaterThan(newest);
    for (const m of fresh.members) {
      await waitFor(`${m.name} to apply the new write`, 5000, async () => {
        const got = JSON.parse(await ok(["get", "after", "--consistency", "s", "--endpoints", endpointsOf(fresh, [m]), "--output", "json"])) as JsonKv;
        return got.value === "restore";
      });
    }
  }, 60_000);
});

describe("disaster recovery", () => {
  test("after losing a majority for good: a serializable backup from the survivor restores into a new cluster", async () => {
    const old = new Cluster({ size: 3, prefix: "d", firstHost: 144 });
    clusters.push(old);
    await old.startAll();
    await formed(old);
    for (let i = 0; i < 10; i++) await ok(["set", `dr/${i}`, `v${i}`, "--endpoints", endpointsOf(old)]);
    const survivor = old.members[2]!;
    const at = endpointsOf(old, [survivor]);
    await waitFor("the survivor to apply the last write", 10_000, async () => (await dkv(["get", "dr/9", "--consistency", "s", "--endpoints", at])).stdout === "v9\n" || undefined);
    for (const m of old.members) if (m !== survivor) await old.kill(m);

    // By default a backup holds every acknowledged write, which takes a quorum: refused within its deadline.
    const file = join(old.root, "dr.db");
    const refused = await dkv(["snapshot", "save", file, "--endpoints", at, "--snapshot-timeout", "2s"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(existsSync(file)).toBe(false);
    const table = await ok(["snapshot", "save", file, "--consistency", "s", "--endpoints", at]);
    expect(table).toContain("(serializable: ");
    expect(JSON.parse(await ok(["snapshot", "status", file, "--output", "json"]))).toMatchObject({ keys: 10 });

    const fresh = new Cluster({ size: 1, prefix: "e", firstHost: 148 });
    clusters.push(fresh);
    const m = fresh.members[0]!;
    await ok([
      "snapshot", "restore", file, "--data-dir", m.dataDir, "--name", m.name,
      "--initial-cluster", fresh.initialCluster(), "--initial-cluster-clients", `${m.name}=${m.host}:${m.clientPort}`,
    ]);
    fresh.start(m);
    await formed(fresh);
    expect(await ok(["get", "dr/9", "--endpoints", endpointsOf(fresh)])).toBe("v9\n");
    await ok(["set", "after-recovery", "1", "--endpoints", endpointsOf(fresh)]);
  }, 90_000);
});
