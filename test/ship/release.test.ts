// The release command (release/release.ts reading .goreleaser-like-release.yml):
// exactly one tar.gz per os/arch plus SHA256SUMS, each archive holding the
// binary, LICENSE, README.md and the systemd unit; the linux-x64 build runs
// here and prints version + commit, the linux-arm64 build is an aarch64 ELF
// that prints the same under qemu.
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expandTemplate, parseReleaseConfig, ReleaseConfigError } from "../../release/config.ts";
import { aarch64Runner } from "./qemu.ts";
import { PROJECT_ROOT, RELEASE_TIMEOUT_MS, releaseOnce, type ReleaseFixture } from "./release-fixture.ts";

const ARCHIVE_ENTRIES = ["LICENSE", "README.md", "dkv", "systemd/dkv.service"];
/** Per test: they spawn tar, file and the binaries on a machine that may be busy. */
const SLOW_TEST_TIMEOUT_MS = 60_000;
let fixture: ReleaseFixture;
const unpacked = { amd64: "", arm64: "" };

function sh(command: string[], cwd?: string): { code: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync(command, { cwd, stdout: "pipe", stderr: "pipe", timeout: 60_000, env: { ...process.env, NO_COLOR: "1" } });
  return { code: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

/** Unpacks one archive into OUT/unpacked-ARCH and returns that directory. */
function unpack(arch: "amd64" | "arm64"): string {
  const dir = join(fixture.outDir, `unpacked-${arch}`);
  mkdirSync(dir, { recursive: true });
  const result = sh(["tar", "-xzf", join(fixture.outDir, fixture.archiveNames[arch]), "-C", dir]);
  if (result.code !== 0) throw new Error(`tar -xzf ${fixture.archiveNames[arch]} failed: ${result.stderr}`);
  return dir;
}

beforeAll(async () => {
  fixture = await releaseOnce();
  unpacked.amd64 = unpack("amd64");
  unpacked.arm64 = unpack("arm64");
}, RELEASE_TIMEOUT_MS);

describe("npm run release", () => {
  test("writes exactly one archive per os/arch and SHA256SUMS", () => {
    const written = readdirSync(fixture.outDir).filter((name) => !name.startsWith("unpacked-")).sort();
    expect(written).toEqual(["SHA256SUMS", fixture.archiveNames.amd64, fixture.archiveNames.arm64].sort());
    expect(fixture.archiveNames.amd64).toMatch(/^dkv_\d+\.\d+\.\d+_linux_amd64\.tar\.gz$/);
  });

  test("each archive holds the binary, LICENSE, README.md and the systemd unit, as root-owned files", () => {
    for (const arch of ["amd64", "arm64"] as const) {
      const archive = join(fixture.outDir, fixture.archiveNames[arch]);
      // One listing per archive (each pass gunzips ~100 MiB): "MODE OWNER/GROUP SIZE DATE TIME NAME".
      const listing = sh(["tar", "-tvzf", archive]).stdout.trim().split("\n").map((line) => line.split(/\s+/));
      const entries = listing.map((fields) => `${fields[5]} ${fields[0]} ${fields[1]}`).sort();
      const expected = ARCHIVE_ENTRIES.map((name) => `${name} ${name === "dkv" ? "-rwxr-xr-x" : "-rw-r--r--"} 0/0`);
      expect(`${arch}:\n${entries.join("\n")}`).toBe(`${arch}:\n${expected.join("\n")}`);
    }
    const dir = unpacked.amd64;
    for (const file of ["LICENSE", "README.md", "systemd/dkv.service"]) {
      expect(readFileSync(join(dir, file), "utf8")).toBe(readFileSync(join(PROJECT_ROOT, file), "utf8"));
    }
  }, SLOW_TEST_TIMEOUT_MS);

  test("SHA256SUMS covers every archive and sha256sum -c accepts it", () => {
    const lines = readFileSync(join(fixture.outDir, "SHA256SUMS"), "utf8").trim().split("\n");
    expect(lines.map((line) => line.split("  ")[1]).sort()).toEqual([fixture.archiveNames.amd64, fixture.archiveNames.arm64].sort());
    for (const line of lines) expect(line).toMatch(/^[0-9a-f]{64} {2}dkv_/);
    const check = sh(["sha256sum", "-c", "SHA256SUMS"], fixture.outDir);
    expect(check.stderr).toBe("");
    expect(check.code).toBe(0);
    expect(check.stdout.trim().split("\n")).toEqual(lines.map((line) => `${line.split("  ")[1]}: OK`));
  }, SLOW_TEST_TIMEOUT_MS);

  test("the linux-x64 binary is an x86-64 ELF and prints the version and git commit", () => {
    const binary = join(unpacked.amd64, "dkv");
    expect(sh(["file", "-b", binary]).stdout).toContain("x86-64");
    const version = sh([binary, "--version"]);
    expect(version.code).toBe(0);
    expect(version.stdout).toStartWith(`dkv ${fixture.version} (commit ${fixture.commit}`);
  }, SLOW_TEST_TIMEOUT_MS);

  test("the linux-arm64 binary is an aarch64 ELF and prints the version and git commit under qemu", () => {
    const binary = join(unpacked.arm64, "dkv");
    const kind = sh(["file", "-b", binary]).stdout;
    expect(kind).toContain("ELF 64-bit LSB");
    expect(kind).toContain("ARM aarch64");
    const version = sh([...aarch64Runner(), binary, "--version"]);
    expect(version.stderr).toBe("");
    expect(version.stdout).toStartWith(`dkv ${fixture.version} (commit ${fixture.commit}`);
  }, SLOW_TEST_TIMEOUT_MS);
});

describe("the release command refuses bad input before building anything", () => {
  test("a version that is not semver", () => {
    const result = sh([process.execPath, "run", "release/release.ts", "--version", "latest", "--out", join(fixture.outDir, "never")], PROJECT_ROOT);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--version must be a semantic version like 1.2.3 or 1.2.3-rc.1, not "latest"');
    expect(readdirSync(fixture.outDir)).not.toContain("never");
  }, SLOW_TEST_TIMEOUT_MS);

  test("an unknown flag", () => {
    const result = sh([process.execPath, "run", "release/release.ts", "--verison", "1.0.0"], PROJECT_ROOT);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("verison");
  }, SLOW_TEST_TIMEOUT_MS);
});

describe(".goreleaser-like-release.yml", () => {
  const text = readFileSync(join(PROJECT_ROOT, ".goreleaser-like-release.yml"), "utf8");

  test("declares linux amd64+arm64 builds of src/cli/main.ts into archives with the four files", () => {
    const config = parseReleaseConfig(text);
    expect(config.builds).toHaveLength(1);
    expect(config.builds[0]).toMatchObject({ entry: "src/cli/main.ts", binary: "dkv", os: ["linux"], arch: ["amd64", "arm64"] });
    expect(config.archives[0]!.files).toEqual(["LICENSE", "README.md", "systemd/dkv.service"]);
    expect(config.checksum).toEqual({ nameTemplate: "SHA256SUMS", algorithm: "sha256" });
    const name = expandTemplate(config.archives[0]!.nameTemplate, { ProjectName: "dkv", Version: "1.2.3", Os: "linux", Arch: "arm64" }, "test");
    expect(name).toBe("dkv_1.2.3_linux_arm64");
  });

  test("a misspelt key, a missing file list or an unknown template field is an error naming it", () => {
    expect(() => parseReleaseConfig(text.replace("name_template: SHA256SUMS", "name_tmplate: SHA256SUMS"))).toThrow(/checksum: unknown key "name_tmplate"/);
    expect(() => parseReleaseConfig(text.replace(/ {4}files:\n(?: {6}- .*\n)+/, ""))).toThrow(/archives\[0\]\.files: expected a non-empty list/);
    expect(() => parseReleaseConfig(text.replace("- LICENSE", "- ../LICENSE"))).toThrow(ReleaseConfigError);
    expect(() => expandTemplate("{{ .Tag }}", { Version: "1" }, "x")).toThrow(/\{\{ \.Tag \}\} is not available/);
  });
});
