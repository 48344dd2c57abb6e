// The compiled binary's command line: version, help, strict flags, and the
// one-line errors with documented exit codes.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";

const binary = join(import.meta.dir, "../../dist/dkv");

function run(...args: string[]): { code: number; stdout: string; stderr: string } {
  const result = Bun.spawnSync([binary, ...args], { env: { ...process.env, NO_COLOR: "1" }, timeout: 10_000 });
  return { code: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

describe("dkv command line", () => {
  test("--version prints the version and the git commit", () => {
    const { code, stdout } = run("--version");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^dkv \d+\.\d+\.\d+ \(commit [0-9a-f]{7,}|unknown/);
  });

  test("--help lists the command groups", () => {
    const { code, stdout } = run("--help");
    expect(code).toBe(0);
    for (const group of ["serve", "get", "set", "del", "member", "certs", "watch", "lease"]) expect(stdout).toContain(group);
  });

  test("--help into a pipe has no colour escape codes (NO_COLOR not set); FORCE_COLOR=1 keeps them", () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== "NO_COLOR" && name !== "FORCE_COLOR" && name !== "CI" && name !== "TEST"));
    const piped = Bun.spawnSync([binary, "--help"], { env, timeout: 10_000 });
    expect(piped.exitCode).toBe(0);
    expect(piped.stdout.toString()).toContain("serve");
    expect(piped.stdout.toString()).not.toContain("\x1b[");
    const forced = Bun.spawnSync([binary, "--help"], { env: { ...env, FORCE_COLOR: "1" }, timeout: 10_000 });
    expect(forced.stdout.toString()).toContain("\x1b[");
  });

  test("bad lease ids and TTLs are usage errors (exit 2) before any request is sent", () => {
    for (const [args, message] of [
      [["lease", "grant", "abc"], 'TTL must be a whole number, not "abc"'],
      [["lease", "grant", "0"], "TTL must be a positive whole number"],
      [["lease", "keep-alive", "0"], "lease ID must be a positive whole number"],
      [["lease", "revoke", "x3"], 'lease ID must be a whole number, not "x3"'],
      [["set", "k", "v", "--lease", "x"], '--lease must be a whole number, not "x"'],
    ] as const) {
      const { code, stderr } = run(...args, "--endpoints", "127.0.0.1:1");
      expect(`${args.join(" ")}: ${code}`).toBe(`${args.join(" ")}: 2`);
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(stderr).toContain(message);
    }
    expect(run("lease").stderr).toContain("dkv lease: missing command");
  });

  test("an unknown command is a usage error with exit code 2", () => {
    const { code, stderr } = run("frobnicate");
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain('unknown command "frobnicate"');
  });

  test("an unknown flag is a usage error, not silently ignored", () => {
    const { code, stderr } = run("get", "--no-such-flag", "k");
    expect(code).toBe(2);
    expect(stderr).toContain('unknown flag "--no-such-flag"');
  });

  test("errors are one line without a stack trace", () => {
    const { stderr } = run("frobnicate");
    expect(stderr).not.toContain("    at ");
  });
});
