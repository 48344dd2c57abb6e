// One run of the real release command (`bun run release/release.ts --out
// TMP`) shared by every test file in the process: it compiles two ~100 MiB
// binaries and gzips them, which is most of test/ship's time.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
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

async function runRelease(): Promise<ReleaseFixture> {
  const outDir = mkdtempSync(join(tmpdir(), "dkv-release-"));
  process.on("exit", () => rmSync(outDir, { recursive: true, force: true }));
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
