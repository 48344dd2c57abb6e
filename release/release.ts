// `bun run release/release.ts [--version X] [--out DIR] [--config FILE]`
// (npm run release): builds every os/arch of .goreleaser-like-release.yml with
// `bun build --compile`, packs each into <name>.tar.gz with the listed files,
// and writes SHA256SUMS over the archives — into DIR (default dist/), where
// other files are left alone. Archives are reproducible apart from the binary:
// sorted entries, owner root, mtime of the commit, gzip without a timestamp.
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { elfMachine, findTarget, hostTarget, resolveRuntime, type BunTarget } from "./bun-runtime.ts";
import { expandTemplate, parseReleaseConfig, type ArchiveConfig, type BuildConfig, type ReleaseConfig } from "./config.ts";

const PROJECT_ROOT = resolve(import.meta.dir, "..");
const DEFAULT_CONFIG = join(PROJECT_ROOT, ".goreleaser-like-release.yml");
const DEFAULT_OUT_DIR = join(PROJECT_ROOT, "dist");
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
const BUILD_TIMEOUT_MS = 300_000;
const VERSION_CHECK_TIMEOUT_MS = 30_000;
const GZIP_LEVEL = 6;

export interface ReleaseOptions {
  version: string;
  outDir: string;
  configPath: string;
  log: (line: string) => void;
}

export interface ReleaseResult {
  archives: string[];
  checksumsPath: string;
}

interface BuiltBinary {
  build: BuildConfig;
  target: BunTarget;
  path: string;
}

function git(...args: string[]): string | undefined {
  const result = Bun.spawnSync(["git", ...args], { cwd: PROJECT_ROOT, stderr: "ignore" });
  const text = result.stdout.toString().trim();
  return result.exitCode === 0 && text !== "" ? text : undefined;
}

/** Same rule as the `build` npm script, so a release and `npm run build` agree. */
function shortCommit(): string {
  return git("rev-parse", "--short", "HEAD") ?? "unknown";
}

/** Archive mtime: SOURCE_DATE_EPOCH if set (the reproducible-builds convention), else the commit's time. */
function sourceDateEpoch(): number {
  const fromEnv = process.env.SOURCE_DATE_EPOCH;
  if (fromEnv !== undefined && /^\d+$/.test(fromEnv)) return Number(fromEnv);
  const fromGit = git("log", "-1", "--format=%ct");
  return fromGit !== undefined ? Number(fromGit) : Math.floor(Date.now() / 1000);
}

function run(command: string[], what: string, timeoutMs: number): string {
  const result = Bun.spawnSync(command, { cwd: PROJECT_ROOT, stdout: "pipe", stderr: "pipe", timeout: timeoutMs, env: { ...process.env, NO_COLOR: "1" } });
  if (result.exitCode !== 0) {
    const output = (result.stderr.toString() + result.stdout.toString()).trim().split("\n").slice(-20).join("\n");
    throw new Error(`${what} failed (exit ${result.exitCode ?? "signal " + result.signalCode}):\n${output}`);
  }
  return result.stdout.toString();
}

function compile(build: BuildConfig, target: BunTarget, values: { version: string; commit: string; projectName: string }, outfile: string): void {
  const templateValues = { ProjectName: values.projectName, Version: values.version, ShortCommit: values.commit, Os: target.os, Arch: target.arch };
  const defines = Object.entries(build.defines).flatMap(([name, template]) => [
    "--define",
    `${name}=${JSON.stringify(expandTemplate(template, templateValues, `builds.${build.id}.defines.${name}`))}`,
  ]);
  const runtime = resolveRuntime(target);
  run(
    [process.execPath, "build", "--compile", `--target=${target.bunTarget}`, `--compile-executable-path=${runtime}`, ...build.flags, ...defines, build.entry, "--outfile", outfile],
    `bun build --compile for ${target.os}/${target.arch}`,
    BUILD_TIMEOUT_MS,
  );
  const machine = elfMachine(outfile);
  if (machine !== target.elfMachine) {
    throw new Error(`${outfile} is ELF machine ${machine}, not ${target.elfMachine} (${target.os}/${target.arch})`);
  }
}

/** The host's build is run: it must report the version and commit it is released as. */
function checkVersionOutput(binary: string, version: string, commit: string): void {
  const output = run([binary, "--version"], `${binary} --version`, VERSION_CHECK_TIMEOUT_MS).trim();
  if (!output.includes(`dkv ${version} `) || !output.includes(`commit ${commit}`)) {
    throw new Error(
      `${binary} --version printed "${output}", expected version ${version} and commit ${commit}` +
        ` (src/cli/version.ts must take DKV_BUILD_VERSION / DKV_BUILD_COMMIT from --define)`,
    );
  }
}

/** tar | gzip -n into `archivePath`, entries sorted and owned by root, mtime fixed. */
async function packArchive(stageDir: string, entries: string[], archivePath: string, mtimeEpoch: number): Promise<void> {
  const partial = `${archivePath}.partial`;
  const tar = Bun.spawn(
    ["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", `--mtime=@${mtimeEpoch}`, "--format=gnu", "-C", stageDir, "-cf", "-", ...entries],
    { stdout: "pipe", stderr: "pipe" },
  );
  const gzip = Bun.spawn(["gzip", "-n", `-${GZIP_LEVEL}`], { stdin: tar.stdout, stdout: Bun.file(partial), stderr: "pipe" });
  const [tarCode, gzipCode] = await Promise.all([tar.exited, gzip.exited]);
  if (tarCode !== 0 || gzipCode !== 0) {
    rmSync(partial, { force: true });
    const errors = (await new Response(tar.stderr).text()) + (await new Response(gzip.stderr).text());
    throw new Error(`packing ${archivePath} failed (tar exit ${tarCode}, gzip exit ${gzipCode}): ${errors.trim()}`);
  }
  renameSync(partial, archivePath);
}

async function sha256File(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}

/** Copies the binary and the listed files into a fresh directory laid out as the archive. */
function stageArchive(stageDir: string, binary: BuiltBinary, files: string[]): string[] {
  mkdirSync(stageDir, { recursive: true });
  copyFileSync(binary.path, join(stageDir, binary.build.binary));
  chmodSync(join(stageDir, binary.build.binary), 0o755);
  for (const file of files) {
    const source = join(PROJECT_ROOT, file);
    if (!existsSync(source)) throw new Error(`archive file ${file} does not exist (listed in the release config)`);
    mkdirSync(dirname(join(stageDir, file)), { recursive: true });
    copyFileSync(source, join(stageDir, file));
    chmodSync(join(stageDir, file), 0o644);
  }
  return [binary.build.binary, ...files];
}

function buildAll(config: ReleaseConfig, version: string, commit: string, scratch: string, log: (line: string) => void): BuiltBinary[] {
  const built: BuiltBinary[] = [];
  for (const build of config.builds) {
    for (const os of build.os) {
      for (const arch of build.arch) {
        const target = findTarget(os, arch);
        const path = join(scratch, "build", build.id, `${os}_${arch}`, build.binary);
        mkdirSync(dirname(path), { recursive: true });
        log(`building ${build.id} for ${os}/${arch} (${target.bunTarget})`);
        compile(build, target, { version, commit, projectName: config.projectName }, path);
        if (target === hostTarget()) checkVersionOutput(path, version, commit);
        built.push({ build, target, path });
      }
    }
  }
  return built;
}

function archiveName(config: ReleaseConfig, archive: ArchiveConfig, binary: BuiltBinary, version: string, commit: string): string {
  const values = { ProjectName: config.projectName, Version: version, ShortCommit: commit, Os: binary.target.os, Arch: binary.target.arch };
  const name = expandTemplate(archive.nameTemplate, values, `archives.${archive.id}.name_template`);
  if (name.includes("/")) throw new Error(`archive name "${name}" contains a "/"`);
  return `${name}.tar.gz`;
}

export async function release(options: ReleaseOptions): Promise<ReleaseResult> {
  const { version, outDir, log } = options;
  if (!SEMVER.test(version)) throw new Error(`--version must be a semantic version like 1.2.3 or 1.2.3-rc.1, not "${version}"`);
  const config = parseReleaseConfig(readFileSync(options.configPath, "utf8"));
  const commit = shortCommit();
  const mtimeEpoch = sourceDateEpoch();
  mkdirSync(outDir, { recursive: true });
  // Inside outDir so the final renames never cross a filesystem.
  const scratch = mkdtempSync(join(outDir, ".release-"));
  try {
    const built = buildAll(config, version, commit, scratch, log);
    const jobs: Array<{ name: string; run: () => Promise<void> }> = [];
    for (const archive of config.archives) {
      for (const binary of built.filter((b) => archive.builds.includes(b.build.id))) {
        const name = archiveName(config, archive, binary, version, commit);
        if (jobs.some((job) => job.name === name)) throw new Error(`two archives would be named ${name}: add {{ .Os }}/{{ .Arch }} to the name template`);
        const stageDir = join(scratch, "stage", name);
        const entries = stageArchive(stageDir, binary, archive.files);
        jobs.push({ name, run: () => packArchive(stageDir, entries, join(outDir, name), mtimeEpoch) });
      }
    }
    log(`packing ${jobs.map((job) => job.name).join(", ")}`);
    // One gzip per archive, side by side: compression is the slow part.
    await Promise.all(jobs.map((job) => job.run()));
    log("writing checksums");
    const names = jobs.map((job) => job.name).sort();
    const sums = await Promise.all(names.map(async (name) => `${await sha256File(join(outDir, name))}  ${name}\n`));
    const checksumsName = expandTemplate(config.checksum.nameTemplate, { ProjectName: config.projectName, Version: version }, "checksum.name_template");
    const checksumsPath = join(outDir, checksumsName);
    writeFileSync(`${checksumsPath}.partial`, sums.join(""));
    renameSync(`${checksumsPath}.partial`, checksumsPath);
    return { archives: names.map((name) => join(outDir, name)), checksumsPath };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PROJECT_ROOT, "package.json"), "utf8")) as { version: string }).version;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { version: { type: "string" }, out: { type: "string" }, config: { type: "string" }, help: { type: "boolean" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    process.stderr.write(`release: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write("usage: bun run release/release.ts [--version X] [--out DIR] [--config FILE]\n");
    return 0;
  }
  const outDir = resolve(values.out ?? DEFAULT_OUT_DIR);
  const startedMs = performance.now();
  try {
    const result = await release({
      version: (values.version ?? packageVersion()).replace(/^v/, ""),
      outDir,
      configPath: resolve(values.config ?? DEFAULT_CONFIG),
      log: (line) => process.stdout.write(`release: [${((performance.now() - startedMs) / 1000).toFixed(1)}s] ${line}\n`),
    });
    for (const path of [...result.archives, result.checksumsPath]) process.stdout.write(`wrote ${relative(process.cwd(), path) || path}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`release: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

if (import.meta.main) process.exitCode = await main();
