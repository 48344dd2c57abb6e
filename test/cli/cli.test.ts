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
    for (const group of ["serve", "get", "set", "del", "member", "certs"]) expect(stdout).toContain(group);
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
