// A power cut for real processes: members run with disk-cache-shim.so, which
// copies each file as it stands at every fsync, and each directory's entries
// at every fsync of the directory; after the processes are killed,
// rebuildAfterCut() replaces a data dir with what a disk would hold, every
// byte and every name that no fsync covered gone (a file never synced comes
// back empty, a name never synced not at all).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const SOURCE = join(import.meta.dir, "disk-cache-shim.c");

/** Compiles the shim into dir (gcc, or cc; .ci/run installs gcc). */
export function buildShim(dir: string): string {
  const out = join(dir, "disk-cache-shim.so");
  const compiler = Bun.which("gcc") ?? Bun.which("cc");
  if (compiler === null) throw new Error("no C compiler (gcc or cc) to build the power-cut disk model: apt-get install gcc");
  const cc = Bun.spawnSync([compiler, "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", out, SOURCE, "-ldl", "-lpthread"], { stderr: "pipe" });
  if (cc.exitCode !== 0) throw new Error(`${compiler} failed on ${SOURCE}: ${cc.stderr.toString()}`);
  return out;
}

/**
 * Environment that makes a process keep synced copies of the files under
 * watch in shadow. Once the file `freeze` exists, syncs stop reaching the
 * copies: a disk that lies.
 */
export function shimEnv(shim: string, watch: string, shadow: string, switches: { freeze?: string } = {}): Record<string, string> {
  mkdirSync(shadow, { recursive: true });
  const env: Record<string, string> = { LD_PRELOAD: shim, DKV_POWERCUT_WATCH: watch, DKV_POWERCUT_SHADOW: shadow };
  if (switches.freeze !== undefined) env.DKV_POWERCUT_FREEZE = switches.freeze;
  return env;
}

/**
 * Added to one process's shimEnv: once the file `failSwitch` exists, its syncs
 * fail with EIO and sync nothing; while `hangSwitch` exists, they wait.
 */
export function faultySyncEnv(switches: { failSwitch?: string; hangSwitch?: string }): Record<string, string> {
  const env: Record<string, string> = {};
  if (switches.failSwitch !== undefined) env.DKV_POWERCUT_FAIL_SYNC = switches.failSwitch;
  if (switches.hangSwitch !== undefined) env.DKV_POWERCUT_HANG_SYNC = switches.hangSwitch;
  return env;
}

/** What the shim could not do (it writes them to shadow/ERRORS); empty when all went well. */
export function shimErrors(shadow: string): string {
  const file = join(shadow, "ERRORS");
  return existsSync(file) ? readFileSync(file, "utf8") : "";
}

/** How the shim names a file's copies: inode and birth time (0 where the file system keeps none). */
function shadowKey(path: string): string {
  const st = statSync(path, { bigint: true });
  return `${st.ino}-${birthTimesKept ? st.birthtimeNs : 0n}`;
}

/** Whether the temp dir's file system keeps birth times (statx STATX_BTIME, as the shim asks); what Bun reports without them is not 0 everywhere. */
const birthTimesKept = (() => {
  const dir = mkdtempSync(join(tmpdir(), "dkv-btime-"));
  try {
    writeFileSync(join(dir, "probe"), "");
    const stat = Bun.spawnSync(["stat", "-c", "%W", join(dir, "probe")], { stdout: "pipe" });
    return stat.exitCode === 0 && Number(stat.stdout.toString().trim()) > 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();

export interface CutReport {
  files: number;
  /** Files whose contents differ from what the page cache held (unsynced writes dropped), with their lengths before and after. */
  changedFiles: string[];
  /** Names the page cache had that the disk lost (created or renamed without a directory fsync since). */
  lostNames: string[];
  /** Bytes the page cache held beyond what the disk kept, summed over files (length difference). */
  bytesDropped: number;
}

interface ListingEntry {
  name: string;
  kind: "f" | "d";
  key: string;
}

function readListing(shadow: string, dirKey: string): ListingEntry[] | undefined {
  const file = join(shadow, `dir-${dirKey}`);
  if (!existsSync(file)) return undefined;
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const [name, kind, key] = line.split("\t");
      return { name: name!, kind: kind as "f" | "d", key: key! };
    });
}

/** Records a rebuilt tree as durable: each file's contents and each directory's entries, under their new inodes. */
function recordDurable(dir: string, shadow: string): void {
  const lines: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) recordDurable(path, shadow);
    else copyFileSync(path, join(shadow, shadowKey(path)));
    lines.push(`${entry.name}\t${entry.isDirectory() ? "d" : "f"}\t${shadowKey(path)}\n`);
  }
  writeFileSync(join(shadow, `dir-${shadowKey(dir)}`), lines.join(""));
}

const PAGE_BYTES = 4096;

/**
 * What a disk may hold when the kernel had written back some of a file's
 * unsynced pages before the power went, in no particular order: each page
 * that differs is the cached or the synced one at random, a grown file keeps
 * a random number of its new pages, a truncated one its old or new length.
 */
export function partlyWrittenBack(durable: Uint8Array, cached: Uint8Array, random: () => number): Uint8Array {
  const grownPages = Math.ceil(Math.max(0, cached.length - durable.length) / PAGE_BYTES);
  const keptGrowth = Math.min(cached.length - durable.length, Math.floor(random() * (grownPages + 1)) * PAGE_BYTES);
  // Each draw: the higher, the more of the cache reached the disk.
  const length = cached.length >= durable.length ? durable.length + Math.max(0, keptGrowth) : random() >= 0.5 ? cached.length : durable.length;
  const out = new Uint8Array(length);
  out.set(durable.subarray(0, Math.min(length, durable.length)));
  for (let at = 0; at < length; at += PAGE_BYTES) {
    const end = Math.min(length, at + PAGE_BYTES);
    if (at >= durable.length || (end <= cached.length && random() >= 0.5)) out.set(cached.subarray(at, Math.min(end, cached.length)), at);
  }
  return out;
}

export interface CutOptions {
  /**
   * Without it every unsynced write is lost. With it some are kept, chosen
   * by this random source (see partlyWrittenBack): the order in which the
   * kernel wrote pages back must not matter either.
   */
  writeback?: () => number;
}

/**
 * Replaces dataDir (its processes must be dead) with the disk's view: each
 * directory with the entries it had at its last fsync (none if never synced;
 * the data dir itself is taken to exist), each file as of its last sync
 * (empty if never synced), or with some unsynced pages written back too
 * (options.writeback). The rebuilt tree counts as synced itself, so a later
 * cut keeps it.
 */
export function rebuildAfterCut(dataDir: string, shadow: string, options: CutOptions = {}): CutReport {
  const rebuilt = `${dataDir}.after-cut`;
  rmSync(rebuilt, { recursive: true, force: true });
  const report: CutReport = { files: 0, changedFiles: [], lostNames: [], bytesDropped: 0 };
  const build = (dirKey: string, target: string, cached: string | undefined): void => {
    mkdirSync(target);
    const entries = readListing(shadow, dirKey) ?? [];
    const kept = new Set(entries.map((e) => e.name));
    if (cached !== undefined) {
      for (const name of readdirSync(cached)) if (!kept.has(name)) report.lostNames.push(relative(dataDir, join(cached, name)));
    }
    for (const entry of entries) {
      const cachedPath = cached === undefined ? undefined : join(cached, entry.name);
      const cachedNow = cachedPath !== undefined && existsSync(cachedPath) ? cachedPath : undefined;
      if (entry.kind === "d") {
        build(entry.key, join(target, entry.name), cachedNow);
        continue;
      }
      const copy = join(shadow, entry.key);
      const synced = existsSync(copy) ? readFileSync(copy) : new Uint8Array(0);
      // Pages written back early are the same file's: the name must still lead to the inode the listing recorded.
      const sameFile = cachedNow !== undefined && shadowKey(cachedNow) === entry.key;
      const before = cachedNow === undefined ? undefined : readFileSync(cachedNow);
      const durable = options.writeback !== undefined && sameFile && before !== undefined ? partlyWrittenBack(synced, before, options.writeback) : synced;
      writeFileSync(join(target, entry.name), durable);
      report.files += 1;
      if (cachedNow === undefined || before === undefined) continue;
      if (!Buffer.from(before).equals(Buffer.from(durable))) report.changedFiles.push(`${relative(dataDir, cachedNow)} ${before.length}->${durable.length}`);
      report.bytesDropped += Math.max(0, before.length - durable.length);
    }
  };
  build(shadowKey(dataDir), rebuilt, dataDir);
  recordDurable(rebuilt, shadow);
  rmSync(dataDir, { recursive: true, force: true });
  renameSync(rebuilt, dataDir);
  return report;
}
