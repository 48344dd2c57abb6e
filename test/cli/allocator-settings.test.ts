// `dkv serve` re-executes itself in place with MIMALLOC_PURGE_DELAY=-1 (see
// src/cli/allocator-settings.ts): the process the supervisor started is the
// server, with its command line and name unchanged, and an operator's value wins.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, freePort, setKey, waitFor } from "../e2e/cluster.ts";

const root = mkdtempSync(join(tmpdir(), "dkv-alloc-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function environmentOf(pid: number): Map<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter((e) => e !== "");
  return new Map(entries.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
}

async function serveAndInspect(name: string, purgeDelay: string | undefined) {
  const clientPort = freePort("127.0.0.1");
  const args = [
    BINARY, "serve", "--name", name, "--data-dir", join(root, name),
    "--listen-client-address", `127.0.0.1:${clientPort}`, "--listen-peer-address", `127.0.0.1:${freePort("127.0.0.1")}`,
  ];
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", MIMALLOC_PURGE_DELAY: purgeDelay };
  if (purgeDelay === undefined) delete env.MIMALLOC_PURGE_DELAY;
  delete env.JSC_SIGNAL_FOR_GC;
  const proc = Bun.spawn(args, { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  try {
    const endpoint = `http://127.0.0.1:${clientPort}`;
    await waitFor("the member to answer", 15_000, async () => {
      await setKey(endpoint, "k", "v");
      return true;
    });
    const environment = environmentOf(proc.pid);
    const commandLine = readFileSync(`/proc/${proc.pid}/cmdline`, "utf8").split("\0").filter((a) => a !== "");
    const processName = readFileSync(`/proc/${proc.pid}/comm`, "utf8").trim();
    proc.kill("SIGTERM");
    const exitCode = await proc.exited;
    const stderr = await new Response(proc.stderr).text();
    return { environment, commandLine, processName, exitCode, stderr, args };
  } finally {
    proc.kill("SIGKILL");
  }
}

describe("dkv serve allocator settings", () => {
  test("the started process itself serves, with MIMALLOC_PURGE_DELAY=-1 and its command line and name unchanged", async () => {
    const seen = await serveAndInspect("unset", undefined);
    expect(seen.environment.get("MIMALLOC_PURGE_DELAY")).toBe("-1");
    // The garbage collector's signal moves off SIGPWR, which the re-exec leaves ignored, so JSC has nothing to complain about.
    expect(seen.environment.get("JSC_SIGNAL_FOR_GC")).toBe("40");
    expect(seen.stderr).not.toContain("Overriding existing handler");
    expect(seen.environment.get("NO_COLOR")).toBe("1");
    expect(seen.commandLine).toEqual(seen.args);
    expect(seen.processName).toBe("dkv");
    expect(seen.exitCode).toBe(0);
    expect(seen.stderr).not.toContain("could not restart");
  }, 30_000);

  test("an operator's own MIMALLOC_PURGE_DELAY is kept", async () => {
    const seen = await serveAndInspect("operator", "250");
    expect(seen.environment.get("MIMALLOC_PURGE_DELAY")).toBe("250");
    expect(seen.exitCode).toBe(0);
  }, 30_000);
});
