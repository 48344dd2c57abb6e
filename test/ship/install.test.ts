// install.sh under dash (POSIX sh), fetching the real release archives from a
// loopback HTTP server into a temporary DKV_INSTALL_ROOT: the binary lands
// and runs; --systemd lays out the env file, unit and data dir with the right
// modes and keeps an existing env file; a checksum mismatch installs nothing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT, RELEASE_TIMEOUT_MS, releaseOnce, type ReleaseFixture } from "./release-fixture.ts";

const INSTALL_SCRIPT = join(PROJECT_ROOT, "install.sh");
/** Each install downloads and unpacks a ~50 MiB archive. */
const INSTALL_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 90_000;

let fixture: ReleaseFixture;
let scratch: string;
let server: ReturnType<typeof Bun.serve>;
/** URL prefix -> directory served under it. */
const served = new Map<string, string>();

function baseUrl(prefix: string): string {
  return `http://127.0.0.1:${server.port}/${prefix}`;
}

function freshRoot(name: string): string {
  const root = join(scratch, "roots", name);
  mkdirSync(root, { recursive: true });
  return root;
}

interface InstallRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs install.sh with dash — asynchronously, since the HTTP server answers from this same process. */
async function install(args: string[], env: Record<string, string>, options: { piped?: boolean } = {}): Promise<InstallRun> {
  const command = options.piped ? ["dash", "-s", "--", ...args] : ["dash", INSTALL_SCRIPT, ...args];
  const child = Bun.spawn(command, {
    stdin: options.piped ? Bun.file(INSTALL_SCRIPT) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: scratch, NO_COLOR: "1", ...env },
    timeout: INSTALL_TIMEOUT_MS,
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

function mode(path: string): string {
  return (statSync(path).mode & 0o777).toString(8).padStart(4, "0");
}

/** Every file under `dir`, relative, sorted. */
function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).filter((path) => statSync(join(dir, path)).isFile()).sort();
}

beforeAll(async () => {
  fixture = await releaseOnce();
  scratch = mkdtempSync(join(tmpdir(), "dkv-install-"));
  served.set("good", fixture.outDir);
  // Same SHA256SUMS, one byte of the amd64 archive flipped (in the middle of the gzip stream).
  const corrupt = join(scratch, "corrupt");
  mkdirSync(corrupt);
  copyFileSync(join(fixture.outDir, "SHA256SUMS"), join(corrupt, "SHA256SUMS"));
  const corruptArchive = join(corrupt, fixture.archiveNames.amd64);
  copyFileSync(join(fixture.outDir, fixture.archiveNames.amd64), corruptArchive);
  const middle = Math.floor(statSync(corruptArchive).size / 2);
  const original = readFileSync(corruptArchive).subarray(middle, middle + 1);
  const fd = openSync(corruptArchive, "r+");
  writeSync(fd, Uint8Array.of(original[0]! ^ 0xff), 0, 1, middle);
  closeSync(fd);
  served.set("corrupt", corrupt);
  // The archive is intact but SHA256SUMS does not list it.
  const unlisted = join(scratch, "unlisted");
  mkdirSync(unlisted);
  copyFileSync(join(fixture.outDir, fixture.archiveNames.amd64), join(unlisted, fixture.archiveNames.amd64));
  writeFileSync(join(unlisted, "SHA256SUMS"), `${"0".repeat(64)}  dkv_0.0.0_linux_amd64.tar.gz\n`);
  served.set("unlisted", unlisted);

  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const [, prefix, name, ...rest] = new URL(request.url).pathname.split("/");
      const dir = served.get(prefix ?? "");
      if (!dir || !name || rest.length > 0 || name.startsWith(".")) return new Response("not found\n", { status: 404 });
      const path = join(dir, name);
      return existsSync(path) && statSync(path).isFile() ? new Response(Bun.file(path)) : new Response("not found\n", { status: 404 });
    },
  });
}, RELEASE_TIMEOUT_MS);

afterAll(() => {
  server?.stop(true);
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("install.sh", () => {
  test("installs the binary into <root>/usr/local/bin, and it runs", async () => {
    const root = freshRoot("plain");
    const run = await install([], { DKV_INSTALL_ROOT: root, DKV_INSTALL_BASE_URL: baseUrl("good") });
    expect(run.stderr).toContain(`checksum OK for ${fixture.archiveNames.amd64}`);
    expect(run.code).toBe(0);
    expect(listFiles(root)).toEqual(["usr/local/bin/dkv"]);
    const binary = join(root, "usr/local/bin/dkv");
    expect(mode(binary)).toBe("0755");
    const version = Bun.spawnSync([binary, "--version"]);
    expect(version.stdout.toString()).toStartWith(`dkv ${fixture.version} (commit ${fixture.commit}`);
  }, TEST_TIMEOUT_MS);

  test("works piped into sh (curl ... | sh -s -- --systemd), with DKV_INSTALL_DIR and DKV_VERSION=v<version>", async () => {
    const root = freshRoot("piped");
    const run = await install(
      ["--systemd"],
      { DKV_INSTALL_ROOT: root, DKV_INSTALL_BASE_URL: baseUrl("good"), DKV_INSTALL_DIR: "/opt/dkv/bin", DKV_VERSION: `v${fixture.version}` },
      { piped: true },
    );
    expect(run.stderr).not.toContain("error");
    expect(run.code).toBe(0);
    expect(existsSync(join(root, "opt/dkv/bin/dkv"))).toBe(true);
    expect(existsSync(join(root, "usr/local/bin/dkv"))).toBe(false);
    // The unit must start the binary where it was put.
    const unit = readFileSync(join(root, "etc/systemd/system/dkv.service"), "utf8");
    expect(unit).toContain("\nExecStart=/opt/dkv/bin/dkv serve\n");
  }, TEST_TIMEOUT_MS);

  test("--systemd writes the unit, a commented env template and a 0700 data dir, and says what it skipped", async () => {
    const root = freshRoot("systemd");
    const run = await install(["--systemd"], { DKV_INSTALL_ROOT: root, DKV_INSTALL_BASE_URL: baseUrl("good") });
    expect(run.code).toBe(0);
    expect(listFiles(root)).toEqual(["etc/dkv/dkv.env", "etc/systemd/system/dkv.service", "usr/local/bin/dkv"]);
    expect(readFileSync(join(root, "etc/systemd/system/dkv.service"), "utf8")).toBe(readFileSync(join(PROJECT_ROOT, "systemd/dkv.service"), "utf8"));
    expect(mode(join(root, "etc/systemd/system/dkv.service"))).toBe("0644");
    expect(mode(join(root, "etc/dkv/dkv.env"))).toBe("0640");
    expect(statSync(join(root, "var/lib/dkv")).isDirectory()).toBe(true);
    expect(mode(join(root, "var/lib/dkv"))).toBe("0700");
    const envFile = readFileSync(join(root, "etc/dkv/dkv.env"), "utf8");
    expect(envFile).toContain("\nDKV_DATA_DIR=/var/lib/dkv\n");
    expect(envFile).toContain("\n#DKV_INITIAL_CLUSTER=");
    expect(run.stderr).toContain("not creating the system user dkv");
    expect(run.stderr).toContain("not running systemctl");
  }, TEST_TIMEOUT_MS);

  test("--systemd keeps an existing /etc/dkv/dkv.env", async () => {
    const root = freshRoot("keep-env");
    mkdirSync(join(root, "etc/dkv"), { recursive: true });
    const mine = "DKV_NAME=node7\nDKV_DATA_DIR=/srv/dkv\n";
    writeFileSync(join(root, "etc/dkv/dkv.env"), mine, { mode: 0o600 });
    const run = await install(["--systemd"], { DKV_INSTALL_ROOT: root, DKV_INSTALL_BASE_URL: baseUrl("good") });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain("kept existing");
    expect(readFileSync(join(root, "etc/dkv/dkv.env"), "utf8")).toBe(mine);
    expect(mode(join(root, "etc/dkv/dkv.env"))).toBe("0600");
  }, TEST_TIMEOUT_MS);

  test("a corrupted archive (checksum mismatch) is refused and nothing is installed", async () => {
    const root = freshRoot("corrupt");
    const run = await install(["--systemd"], { DKV_INSTALL_ROOT: root, DKV_INSTALL_BASE_URL: baseUrl("corrupt") });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`checksum mismatch for ${fixture.archiveNames.amd64}`);
    expect(run.stderr).toContain("refusing to install");
    expect(listFiles(root)).toEqual([]);
    expect(readdirSync(root)).toEqual([]);
  }, TEST_TIMEOUT_MS);

  test("an archive SHA256SUMS does not list is refused", async () => {
    const root = freshRoot("unlisted");
    const run = await install([], { DKV_INSTALL_ROOT: root, DKV_INSTALL_BASE_URL: baseUrl("unlisted") });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(`SHA256SUMS lists no checksum for ${fixture.archiveNames.amd64}`);
    expect(readdirSync(root)).toEqual([]);
  }, TEST_TIMEOUT_MS);

  test("a version that was never released fails on the download and installs nothing", async () => {
    const root = freshRoot("missing-version");
    const run = await install([], { DKV_INSTALL_ROOT: root, DKV_INSTALL_BASE_URL: baseUrl("good"), DKV_VERSION: "9.9.9" });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("could not download");
    expect(run.stderr).toContain("dkv_9.9.9_linux_amd64.tar.gz");
    expect(readdirSync(root)).toEqual([]);
  }, TEST_TIMEOUT_MS);

  test("an unknown argument is refused with the usage", async () => {
    const run = await install(["--sytemd"], { DKV_INSTALL_ROOT: freshRoot("bad-arg"), DKV_INSTALL_BASE_URL: baseUrl("good") });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("unknown argument '--sytemd'");
    expect(run.stderr).toContain("usage: install.sh");
  });
});

describe("install.sh source", () => {
  const script = readFileSync(INSTALL_SCRIPT, "utf8");

  test("shellcheck finds nothing in it as POSIX sh", () => {
    if (!Bun.which("shellcheck")) throw new Error("shellcheck is missing: apt-get install shellcheck");
    const result = Bun.spawnSync(["shellcheck", "--shell=sh", "--severity=style", INSTALL_SCRIPT]);
    expect(result.stdout.toString()).toBe("");
    expect(result.exitCode).toBe(0);
  });

  test("its default version is package.json's", () => {
    expect(script).toContain(`\nDKV_DEFAULT_VERSION="${fixture.version}"\n`);
  });

  test("the env template names every `dkv serve` flag as DKV_<FLAG>", async () => {
    const { serveCommand } = await import("../../src/cli/serve.ts");
    const flags = Object.keys((serveCommand as { args: Record<string, unknown> }).args);
    expect(flags.length).toBeGreaterThan(10);
    const template = script.slice(script.indexOf("write_env_template()"), script.indexOf("install_systemd()"));
    const missing = flags
      .map((flag) => `DKV_${flag.replace(/-/g, "_").toUpperCase()}=`)
      .filter((variable) => !template.includes(variable));
    expect(missing).toEqual([]);
  });
});
