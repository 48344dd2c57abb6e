// One run of the real release command (`bun run release/release.ts --out
// TMP`) shared by every test file in the process: it compiles two ~100 MiB
// binaries and gzips them, which is most of test/ship's time.
//
// Cleanup: bun test runs no exit hooks, so the output (~300 MiB with the
// unpacked copies) lives in TMP/dkv-ship-release/<pid> and the next run
// deletes the directories of processes that are gone.
import { mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const PROJECT_ROOT = join(import.meta.dir, "../..");
/** Budget for the release inside a beforeAll (about 30 s on a busy 2-core machine). */
export const RELEASE_TIMEOUT_MS = 180_000;

export interface ReleaseFixture {
  outDir: string;
  version: string;
  commit: string;
  /** Archive file name per arch. */
  archiveNames: { amd64: string; arm64: string };
  stdout: string;
}

let pending: Promise<ReleaseFixture> | undefined;

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string }).version;
}

export function gitShortCommit(): string {
  const result = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: PROJECT_ROOT });
  return result.exitCode === 0 ? result.stdout.toString().trim() : "unknown";
}

const FIXTURE_PARENT_DIR = join(tmpdir(), "dkv-ship-release");

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes the release output of earlier test processes that have exited. */
function sweepStaleOutputs(): void {
  mkdirSync(FIXTURE_PARENT_DIR, { recursive: true });
  for (const name of readdirSync(FIXTURE_PARENT_DIR)) {
    const pid = Number(name);
    if (pid === process.pid || (Number.isInteger(pid) && pid > 0 && processAlive(pid))) continue;
    rmSync(join(FIXTURE_PARENT_DIR, name), { recursive: true, force: true });
  }
}

async function runRelease(): Promise<ReleaseFixture> {
  sweepStaleOutputs();
  const outDir = join(FIXTURE_PARENT_DIR, String(process.pid));
  // A reused pid's leftovers are not ours to trust.
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir);
  const version = packageVersion();
  // Read before the release reads it, so a commit by someone else afterwards does not race the check.
  const commit = gitShortCommit();
  const child = Bun.spawn([process.execPath, "run", "release/release.ts", "--out", outDir], {
    cwd: PROJECT_ROOT,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (code !== 0) throw new Error(`release/release.ts exited ${code}:\n${stderr}\n${stdout}`);
  return {
    outDir,
    version,
    commit,
    archiveNames: { amd64: `dkv_${version}_linux_amd64.tar.gz`, arm64: `dkv_${version}_linux_arm64.tar.gz` },
    stdout,
  };
}

export function releaseOnce(): Promise<ReleaseFixture> {
  pending ??= runRelease();
  return pending;
}
