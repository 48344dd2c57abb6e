// `dkv serve` told to listen where it cannot (a port another process holds,
// an address this host does not have) stops in one line, exit 1, before its
// data dir exists: a new data dir would record those addresses in the
// cluster's first configuration, and the next start, with the flags fixed,
// would resume from it and ignore them.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BINARY, freePort } from "./cluster.ts";

const HOST = "127.0.0.99";
const root = mkdtempSync(join(tmpdir(), "dkv-listen-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function serve(dataDir: string, client: string, peer: string): { code: number; stderr: string } {
  const run = Bun.spawnSync([BINARY, "serve", "--data-dir", dataDir, "--listen-client-address", client, "--listen-peer-address", peer], {
    env: { ...process.env, NO_COLOR: "1" },
    timeout: 20_000,
  });
  return { code: run.exitCode ?? -1, stderr: run.stderr.toString() };
}

function lastLine(text: string): string {
  return text.trimEnd().split("\n").pop() ?? "";
}

describe("dkv serve where it cannot listen", () => {
  test("a port in use, for clients or for peers, or an address not of this host: one line, exit 1, no data dir", () => {
    const taken = freePort(HOST);
    const holder = Bun.listen({ hostname: HOST, port: taken, socket: { data() {} } });
    try {
      const cases = [
        { client: `${HOST}:${taken}`, peer: `${HOST}:${freePort(HOST)}`, line: `dkv: cannot listen on ${HOST}:${taken} (--listen-client-address): the port is in use by another process` },
        { client: `${HOST}:${freePort(HOST)}`, peer: `${HOST}:${taken}`, line: `dkv: cannot listen on ${HOST}:${taken} (--listen-peer-address): the port is in use by another process` },
        { client: "10.255.255.254:2379", peer: `${HOST}:${freePort(HOST)}`, line: "dkv: cannot listen on 10.255.255.254:2379 (--listen-client-address): 10.255.255.254 is not an address of this host" },
      ];
      for (const [i, c] of cases.entries()) {
        const dataDir = join(root, `d${i}`);
        const run = serve(dataDir, c.client, c.peer);
        expect({ code: run.code, line: lastLine(run.stderr) }).toEqual({ code: 1, line: c.line });
        expect(run.stderr).not.toContain("bootstrapped");
        expect(existsSync(dataDir)).toBe(false);
      }
    } finally {
      holder.stop(true);
    }
  }, 60_000);
});
