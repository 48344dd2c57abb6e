// `dkv serve` warns at start when the open-file limit leaves room for few
// client connections (src/cli/open-file-limit.ts).
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openFileLimitWarning, readOpenFileLimit, RECOMMENDED_OPEN_FILES } from "../../src/cli/open-file-limit.ts";
import { BINARY, freePort, setKey, waitFor } from "../e2e/cluster.ts";

const root = mkdtempSync(join(tmpdir(), "dkv-nofile-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

describe("open-file limit", () => {
  test("the soft limit is read from /proc/self/limits; unlimited or missing reads as unknown", () => {
    expect(readOpenFileLimit(LIMITS)).toBe(1024);
    expect(readOpenFileLimit(LIMITS.replace("1024      ", "unlimited "))).toBeUndefined();
    expect(readOpenFileLimit("Max cpu time unlimited unlimited seconds\n")).toBeUndefined();
  });

  test("a warning below the recommended limit only, naming the limit and how to raise it", () => {
    expect(openFileLimitWarning(1024)).toContain("the open-file limit is 1024");
    expect(openFileLimitWarning(1024)).toContain("LimitNOFILE");
    expect(openFileLimitWarning(RECOMMENDED_OPEN_FILES - 1)).toBeDefined();
    expect(openFileLimitWarning(RECOMMENDED_OPEN_FILES)).toBeUndefined();
    expect(openFileLimitWarning(undefined)).toBeUndefined();
  });

  async function serveStderr(name: string, hardLimit: number): Promise<string> {
    const clientPort = freePort("127.0.0.1");
    const serve = [
      BINARY, "serve", "--name", name, "--data-dir", join(root, name),
      "--listen-client-address", `127.0.0.1:${clientPort}`, "--listen-peer-address", `127.0.0.1:${freePort("127.0.0.1")}`,
    ];
    // `ulimit -n` sets the soft and the hard limit; exec keeps the pid, so the kill below reaches the member.
    const args = ["bash", "-c", `ulimit -n ${hardLimit} && exec "$@"`, "bash", ...serve];
    const proc = Bun.spawn(args, { env: { ...process.env, NO_COLOR: "1" }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    try {
      await waitFor("the member to answer", 15_000, async () => {
        await setKey(`http://127.0.0.1:${clientPort}`, "k", "v");
        return true;
      });
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      return (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text());
    } finally {
      proc.kill("SIGKILL");
      await proc.exited;
    }
  }

  test("dkv serve warns under a low hard limit and stays silent under a high one", async () => {
    expect(await serveStderr("low", 1000)).toContain("the open-file limit is 1000");
    expect(await serveStderr("enough", RECOMMENDED_OPEN_FILES)).not.toContain("open-file limit");
  }, 40_000);
});
