// Power cuts, not just kill -9: a killed process leaves its writes in the
// page cache, so a kill alone never shows a missing or misplaced fsync. Here
// every member runs with a shim that keeps what each file held at its last
// fsync; after the kill the data dirs are rebuilt from those copies (see
// test/power-cut/), and every write a client saw acknowledged must still be there.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { b64, BINARY, call, type Cluster, formed, leaderOf, type Member, unb64, waitFor } from "./cluster.ts";
import { Prng } from "../chaos/prng.ts";
import { buildShim, type CutOptions, type CutReport, faultySyncEnv, rebuildAfterCut, shimEnv, shimErrors } from "../power-cut/power-cut.ts";
import { clustersStoppedAfterEach } from "./tracked-clusters.ts";

const makeCluster = clustersStoppedAfterEach();
let work: string;
let shim: string;
/** Clusters make their dirs under the temp dir; the shim watches all of it (it reports real paths). */
const watched = realpathSync(tmpdir());

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "dkv-power-cut-"));
  shim = buildShim(work);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Writers {
  /** key -> value of every write a member acknowledged. */
  acked: Map<string, string>;
  attempts: number;
  stop(): Promise<void>;
}

/** Concurrent writers of unique keys, each request to a random running member (followers pass writes on). */
function startWriters(cluster: Cluster, prefix: string, count: number, valueBytes = 64): Writers {
  const acked = new Map<string, string>();
  let running = true;
  const state = { attempts: 0 };
  const loops = Array.from({ length: count }, async (_, w) => {
    for (let i = 0; running; i++) {
      const live = cluster.members.filter((m) => m.process !== undefined);
      if (live.length === 0) {
        await Bun.sleep(20);
        continue;
      }
      const target = live[(w + i) % live.length]!;
      const key = `${prefix}/${w}/${i}`;
      const value = `v-${w}-${i}-${Math.random().toString(36).slice(2)}-`.padEnd(valueBytes, "x");
      state.attempts += 1;
      try {
        await call(cluster.endpoint(target), "dkv.v1.DkvAPI/Set", { key, value: b64(value) }, 2000);
        acked.set(key, value);
      } catch {
        await Bun.sleep(20); // not acknowledged: it may or may not have taken effect
      }
    }
  });
  return {
    acked,
    get attempts() {
      return state.attempts;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Kills the members at once (SIGKILL) and gives each the data dir a disk would hold after losing power. */
async function powerCut(cluster: Cluster, members: Member[], shadow: string, options: CutOptions = {}): Promise<CutReport[]> {
  await Promise.all(members.map((m) => cluster.kill(m, "SIGKILL")));
  return members.map((m) => rebuildAfterCut(m.dataDir, shadow, options));
}

/** Every other cut keeps some unsynced pages (seeded by the cut's number), the others none. */
function cutOptions(cut: number): CutOptions {
  if (cut % 2 === 0) return {};
  const prng = new Prng(cut);
  return { writeback: () => prng.next() };
}

/** Every key under prefix a member holds, read as asked (the member's own state with "serializable"), page by page. */
async function contents(cluster: Cluster, m: Member, prefix: string, consistency: "linearizable" | "serializable"): Promise<Map<string, string>> {
  const held = new Map<string, string>();
  const rangeEnd = `${prefix}0`; // "0" follows "/"
  for (let from = `${prefix}/`; ; ) {
    const response = await call<{ kvs?: Array<{ key: string; value?: string }>; more?: boolean }>(cluster.endpoint(m), "dkv.v1.DkvAPI/List", {
      key: from,
      rangeEnd,
      consistency: consistency === "linearizable" ? "CONSISTENCY_LINEARIZABLE" : "CONSISTENCY_SERIALIZABLE",
    });
    const kvs = response.kvs ?? [];
    for (const kv of kvs) held.set(kv.key, unb64(kv.value));
    if (!response.more || kvs.length === 0) return held;
    from = `${kvs[kvs.length - 1]!.key}\0`;
  }
}

function missingOrWrong(acked: Map<string, string>, held: Map<string, string>): string[] {
  return [...acked].filter(([key, value]) => held.get(key) !== value).map(([key]) => key);
}

async function waitForAcks(writers: Writers, atLeast: number, what: string): Promise<void> {
  await waitFor(`${atLeast} acknowledged writes ${what}`, 20_000, () => writers.acked.size >= atLeast, 10);
}

const running = (m: Member): boolean => m.process !== undefined && m.process.exitCode === null;

async function appliedIndex(cluster: Cluster, m: Member): Promise<number> {
  const status = await call<{ appliedIndex?: string }>(cluster.endpoint(m), "dkv.v1.MaintenanceAPI/Status", {}, 1000);
  return Number(status.appliedIndex ?? 0);
}

describe("power cuts (unsynced writes lost, as after a power failure)", () => {
  test("three members: every acknowledged write survives cuts of the whole cluster, of the leader and of a follower while writes go on", async () => {
    const shadow = join(work, "shadow-3");
    // Snapshots every 500 entries and 8-KiB values: the cuts also land around snapshots, log compaction
    // and SQLite checkpoints (the WAL then restarts from its first byte).
    const cluster = makeCluster({ size: 3, firstHost: 152, env: shimEnv(shim, watched, shadow), flags: ["--snapshot-count", "500"] });
    await cluster.startAll();
    await formed(cluster);
    const writers = startWriters(cluster, "pc", 12, 8192);
    const reports: Array<{ cut: string; report: CutReport[] }> = [];
    try {
      for (const [round, cut] of (["whole cluster", "leader", "follower", "whole cluster"] as const).entries()) {
        await waitForAcks(writers, writers.acked.size + 250, `before cut ${round + 1} (${cut})`);
        const leader = await waitFor("a leader", 20_000, () => leaderOf(cluster));
        const victims = cut === "whole cluster" ? cluster.members : cut === "leader" ? [leader] : [cluster.members.find((m) => m !== leader)!];
        reports.push({ cut, report: await powerCut(cluster, victims, shadow, cutOptions(round)) });
        for (const m of victims) cluster.start(m);
        await formed(cluster).catch((error) => {
          throw new Error(`after cut ${round + 1} (${cut}): ${error.message}`);
        });
      }
      await waitForAcks(writers, writers.acked.size + 250, "after the last cut");
    } finally {
      await writers.stop();
    }
    expect(shimErrors(shadow)).toBe("");
    // What the cuts took: shown, for a reader judging what this test covered.
    for (const { cut, report } of reports) console.log(`cut of the ${cut}: ${report.map((r) => [...r.changedFiles, ...r.lostNames.map((n) => `${n} (name lost)`)].join(", ") || "nothing unsynced").join(" | ")}`);
    console.log(`${writers.acked.size} writes acknowledged of ${writers.attempts} sent`);
    // Nobody stopped itself: a member that had acknowledged entries it then lost would find out and exit.
    for (const m of cluster.members) expect({ member: m.name, exited: m.process ? m.process.exitCode : "never restarted" }).toEqual({ member: m.name, exited: null });
    // The cuts did drop unsynced bytes (else this test tests nothing).
    expect(reports.flatMap((r) => r.report).reduce((sum, r) => sum + r.changedFiles.length, 0)).toBeGreaterThan(0);

    const leader = await formed(cluster);
    const everything = await contents(cluster, leader, "pc", "linearizable");
    expect(missingOrWrong(writers.acked, everything)).toEqual([]);
    // Every member holds the same, once it applied what the leader had.
    const target = await appliedIndex(cluster, leader);
    for (const m of cluster.members) {
      await waitFor(`${m.name} to apply index ${target}`, 15_000, async () => (await appliedIndex(cluster, m)) >= target);
      const held = await contents(cluster, m, "pc", "serializable");
      expect({ member: m.name, missing: missingOrWrong(writers.acked, held) }).toEqual({ member: m.name, missing: [] });
      expect(held.size).toBe(everything.size);
    }
  }, 150_000);

  test("one member (the default store): no follower holds a copy, so every write it acknowledged was on its own disk; three cuts under load lose none", async () => {
    const shadow = join(work, "shadow-single");
    const cluster = makeCluster({ size: 1, firstHost: 170, env: shimEnv(shim, watched, shadow), flags: ["--snapshot-count", "300"] });
    await cluster.startAll();
    await formed(cluster);
    const writers = startWriters(cluster, "one", 8, 1024);
    try {
      for (let cut = 1; cut <= 3; cut++) {
        await waitForAcks(writers, writers.acked.size + 200, `before cut ${cut}`);
        await powerCut(cluster, cluster.members, shadow, cutOptions(cut));
        cluster.start(cluster.members[0]!);
        await formed(cluster);
      }
    } finally {
      await writers.stop();
    }
    expect(shimErrors(shadow)).toBe("");
    const leader = await formed(cluster);
    expect(missingOrWrong(writers.acked, await contents(cluster, leader, "one", "linearizable"))).toEqual([]);
  }, 90_000);

  test("the check bites: a disk that stops honouring fsync loses acknowledged writes, and they are found missing", async () => {
    const shadow = join(work, "shadow-1");
    const freeze = join(work, "freeze");
    const cluster = makeCluster({ size: 1, firstHost: 156, env: shimEnv(shim, watched, shadow, { freeze }) });
    await cluster.startAll();
    await formed(cluster);
    const writers = startWriters(cluster, "lie", 4);
    const syncedBefore = new Set<string>();
    try {
      await waitForAcks(writers, 50, "before the disk starts lying");
      writeFileSync(freeze, "");
      for (const key of writers.acked.keys()) syncedBefore.add(key);
      await waitForAcks(writers, syncedBefore.size + 100, "while the disk lies");
      await powerCut(cluster, cluster.members, shadow);
    } finally {
      await writers.stop();
    }
    rmSync(freeze);
    cluster.start(cluster.members[0]!);
    const leader = await formed(cluster);
    const missing = missingOrWrong(writers.acked, await contents(cluster, leader, "lie", "linearizable"));
    // Most of what was acknowledged after the disk began to lie is gone (a sync already under way may have
    // made it), and nothing acknowledged before.
    expect(missing.length).toBeGreaterThan(50);
    expect(missing.filter((key) => syncedBefore.has(key))).toEqual([]);
  }, 90_000);

  test("a backup saved and restored just before a cut: the restored member starts from it and holds every key", async () => {
    const source = makeCluster({ size: 1, firstHost: 157 });
    await source.startAll();
    const sourceLeader = await formed(source);
    const keys = new Map<string, string>();
    for (let i = 0; i < 40; i++) {
      const key = `b/${i}`;
      keys.set(key, `value ${i}`);
      await call(source.endpoint(sourceLeader), "dkv.v1.DkvAPI/Set", { key, value: b64(`value ${i}`) });
    }
    // Both commands run on the disk model; then the power goes, before anything else syncs.
    const restored = makeCluster({ size: 1, firstHost: 158, prefix: "r" });
    const shadow = join(work, "shadow-restore");
    const env = { ...process.env, NO_COLOR: "1", DKV_ENDPOINTS: "", ...shimEnv(shim, restored.root, shadow) };
    const cli = async (...args: string[]) => {
      const run = Bun.spawn([BINARY, ...args], { stdout: "pipe", stderr: "pipe", env });
      const [stdout, stderr, code] = await Promise.all([new Response(run.stdout).text(), new Response(run.stderr).text(), run.exited]);
      if (code !== 0) throw new Error(`dkv ${args.join(" ")} exited ${code}: ${stderr}`);
      return stdout;
    };
    const backup = join(restored.root, "backup.db");
    await cli("snapshot", "save", backup, "--endpoints", `${sourceLeader.host}:${sourceLeader.clientPort}`);
    await source.stopAll();
    const member = restored.members[0]!;
    await cli("snapshot", "restore", backup, "--data-dir", member.dataDir, "--name", member.name, "--initial-cluster", restored.initialCluster());
    const cut = rebuildAfterCut(restored.root, shadow);
    expect(shimErrors(shadow)).toBe("");
    expect(cut.lostNames).toEqual([]);
    // Only the data dir's lock (who holds it) was never synced; it need not be.
    expect(cut.changedFiles.filter((f) => !f.startsWith(`${basename(member.dataDir)}/LOCK`))).toEqual([]);

    restored.start(member);
    const leader = await formed(restored);
    expect(await contents(restored, leader, "b", "linearizable")).toEqual(keys);
  }, 60_000);

  test("a member that just caught up through a snapshot keeps it across a cut: it restarts, holds every key and keeps its vote", async () => {
    const shadow = join(work, "shadow-install");
    const cluster = makeCluster({ size: 3, firstHost: 160, env: shimEnv(shim, watched, shadow), flags: ["--snapshot-count", "20"] });
    await cluster.startAll();
    const leader = await formed(cluster);
    const keys = new Map<string, string>();
    for (let i = 0; i < 80; i++) {
      keys.set(`s/${i}`, `v${i}`);
      await call(cluster.endpoint(leader), "dkv.v1.DkvAPI/Set", { key: `s/${i}`, value: b64(`v${i}`) });
    }
    const fourth = cluster.addSpec();
    await call(cluster.endpoint(leader), "dkv.v1.MembershipAPI/JoinServer", {
      id: fourth.name,
      address: `${fourth.host}:${fourth.peerPort}`,
      rpcAddress: `${fourth.host}:${fourth.clientPort}`,
    });
    cluster.start(fourth, ["--initial-cluster", cluster.initialCluster(), "--initial-cluster-state", "existing"]);
    await formed(cluster, 4);
    const target = await appliedIndex(cluster, leader);
    await waitFor(`${fourth.name} to apply index ${target}`, 20_000, async () => (await appliedIndex(cluster, fourth)) >= target, 10);
    expect(cluster.logs(fourth, 200)).toContain("installed snapshot");

    const [cut] = await powerCut(cluster, [fourth], shadow);
    expect(shimErrors(shadow)).toBe("");
    expect(cut!.lostNames.filter((name) => !name.startsWith("snap/creating-"))).toEqual([]);
    cluster.start(fourth);
    // Had it lost what it acknowledged, the leader's next heartbeat would make it stop (exit 1).
    await waitFor(`${fourth.name} to serve again`, 20_000, async () => (await appliedIndex(cluster, fourth)) >= target);
    expect(await contents(cluster, fourth, "s", "serializable")).toEqual(keys);
    // It acknowledges as a voter again: with one of the other two followers gone, the write needs all three left.
    await cluster.kill(cluster.members.find((m) => m !== fourth && m !== leader)!);
    await call(cluster.endpoint(fourth), "dkv.v1.DkvAPI/Set", { key: "s/after", value: b64("quorum of leader and the cut member") });
    expect(fourth.process?.exitCode).toBeNull();
  }, 90_000);
});

describe("a disk whose fsync fails (EIO) or hangs", () => {
  /**
   * A member whose syncs start failing must stop without acknowledging what
   * it could not sync; the others keep taking writes; after a cut (its disk
   * holds only what synced) and a restart with a good disk it catches up,
   * and no acknowledged write is missing anywhere.
   */
  async function failingDisk(victimRole: "follower" | "leader", firstHost: number): Promise<void> {
    const shadow = join(work, `shadow-eio-${victimRole}`);
    const cluster = makeCluster({ size: 3, firstHost, env: shimEnv(shim, watched, shadow) });
    const failSwitch = (m: Member) => join(work, `fail-sync-${victimRole}-${m.name}`);
    const initial = cluster.initialCluster();
    for (const m of cluster.members) cluster.start(m, ["--initial-cluster", initial, "--initial-cluster-state", "new"], faultySyncEnv({ failSwitch: failSwitch(m) }));
    const leader = await formed(cluster);
    const victim = victimRole === "leader" ? leader : cluster.members.find((m) => m !== leader)!;
    const writers = startWriters(cluster, "eio", 6);
    let exitCode: number | null;
    try {
      await waitForAcks(writers, 100, "before the disk fails");
      writeFileSync(failSwitch(victim), "");
      exitCode = await waitFor(`${victim.name} to stop`, 15_000, () => victim.process?.exited, 10);
      victim.process = undefined;
      await waitForAcks(writers, writers.acked.size + 100, `with ${victim.name} gone`);
    } finally {
      await writers.stop();
    }
    const message = cluster.logs(victim, 3).match(/^dkv: .*$/m)?.[0];
    console.log(`the ${victimRole} ${victim.name} exited ${exitCode}: ${message}`);
    expect({ exitCode, message }).toEqual({ exitCode: 1, message: expect.stringMatching(/fsync|I\/O|input\/output/i) });

    rmSync(failSwitch(victim));
    rebuildAfterCut(victim.dataDir, shadow);
    cluster.start(victim);
    const now = await formed(cluster);
    expect(missingOrWrong(writers.acked, await contents(cluster, now, "eio", "linearizable"))).toEqual([]);
    const target = await appliedIndex(cluster, now);
    await waitFor(`${victim.name} to catch up to ${target}`, 20_000, async () => (await appliedIndex(cluster, victim)) >= target);
    expect(missingOrWrong(writers.acked, await contents(cluster, victim, "eio", "serializable"))).toEqual([]);
    expect(running(victim)).toBe(true);
    expect(shimErrors(shadow)).toBe("");
  }

  test("a follower's: it stops with exit 1 naming the failed sync, the others keep writing, and back on a good disk it has every acknowledged write", () => failingDisk("follower", 164), 90_000);

  test("the leader's: it stops, a new leader takes the writes, and nothing acknowledged is lost", () => failingDisk("leader", 167), 90_000);

  test("the leader's disk stops answering (fsync hangs): another member leads within seconds and takes the writes, the stuck one says why it is quiet, and when the disk answers again it follows and catches up", async () => {
    const shadow = join(work, "shadow-hang");
    const cluster = makeCluster({ size: 3, firstHost: 173, env: shimEnv(shim, watched, shadow) });
    const hangSwitch = (m: Member) => join(work, `hang-sync-${m.name}`);
    const initial = cluster.initialCluster();
    for (const m of cluster.members) cluster.start(m, ["--initial-cluster", initial, "--initial-cluster-state", "new"], faultySyncEnv({ hangSwitch: hangSwitch(m) }));
    const stuck = await formed(cluster);
    const others = cluster.members.filter((m) => m !== stuck);
    const writers = startWriters(cluster, "hang", 6);
    try {
      await waitForAcks(writers, 100, "before the disk hangs");
      writeFileSync(hangSwitch(stuck), "");
      const hungAt = performance.now();
      const next = await waitFor("another leader", 15_000, () => leaderOf(cluster, others), 50);
      console.log(`${stuck.name}'s disk hung; ${next.name} led after ${Math.round(performance.now() - hungAt)} ms`);
      await waitForAcks(writers, writers.acked.size + 200, `while ${stuck.name}'s disk hangs`);
      // It says why it went quiet, while it is stuck (after 5 s).
      const warning = await waitFor(`${stuck.name} to report its stuck disk`, 15_000, () => cluster.logs(stuck, 20).match(/^.*stuck disk: .*$/m)?.[0], 100);
      expect(warning).toMatch(/waitingMs=\d{4,}/);
      expect(warning).toContain(stuck.dataDir);
      rmSync(hangSwitch(stuck));
      await waitForAcks(writers, writers.acked.size + 100, "after the disk answers again");
    } finally {
      await writers.stop();
    }
    expect(running(stuck)).toBe(true);
    const leader = await formed(cluster);
    const target = await appliedIndex(cluster, leader);
    await waitFor(`${stuck.name} to catch up to ${target}`, 20_000, async () => (await appliedIndex(cluster, stuck)) >= target);
    for (const m of cluster.members) expect({ member: m.name, missing: missingOrWrong(writers.acked, await contents(cluster, m, "hang", "serializable")) }).toEqual({ member: m.name, missing: [] });
  }, 90_000);
});

