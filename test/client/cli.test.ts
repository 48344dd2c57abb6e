// The client commands as a person runs them (`bun run src/cli/main.ts ...`)
// against an in-process fake cluster: output, exit codes 0/1/2, JSON that
// parses, stdin values, DKV_* environment, one-line errors.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeCluster } from "./fake-cluster.ts";
import { mintTestCerts, type TestCerts } from "./openssl-certs.ts";

const MAIN = join(import.meta.dir, "../../src/cli/main.ts");
const ALIASES = join(import.meta.dir, "alias-harness.ts");
const SNAPSHOT = join(import.meta.dir, "snapshot-harness.ts");
const RUN_TIMEOUT_MS = 15_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

/** Runs the CLI asynchronously (the fake cluster lives in this process and must keep answering). */
async function dkv(args: string[], options: { env?: Record<string, string>; stdin?: Uint8Array; script?: string } = {}): Promise<Run> {
  const env: Record<string, string> = { NO_COLOR: "1", PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...options.env };
  const started = performance.now();
  const proc = Bun.spawn(["bun", "run", options.script ?? MAIN, ...args], {
    env,
    stdin: options.stdin ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
    timeout: RUN_TIMEOUT_MS,
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr, elapsedMs: performance.now() - started };
}

function expectOneLineError(run: Run, code: number, text: string): void {
  expect(run.code).toBe(code);
  expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(run.stderr).toContain(text);
  expect(run.stderr).not.toContain("    at ");
}

let cluster: FakeCluster;
let endpoints: string;

beforeAll(async () => {
  cluster = await FakeCluster.start({ leaderId: "n2" });
  endpoints = `--endpoints=${cluster.endpoints()}`;
});
afterAll(() => cluster?.stop());

describe("dkv get/set/del/list", () => {
  test("set then get prints the value; a missing key exits 1 with one line", async () => {
    const set = await dkv(["set", "greeting", "hello world", endpoints]);
    expect(set).toMatchObject({ code: 0, stdout: "OK\n" });
    expect(await dkv(["get", "greeting", endpoints])).toMatchObject({ code: 0, stdout: "hello world\n" });
    const missing = await dkv(["get", "nope", endpoints]);
    expectOneLineError(missing, 1, 'key "nope" not found');
    expect(missing.stdout).toBe("");
  });

  test("VALUE - reads the bytes from stdin unchanged", async () => {
    const bytes = new TextEncoder().encode("line one\nline two\n");
    expect((await dkv(["set", "multi", "-", endpoints], { stdin: bytes })).code).toBe(0);
    expect(cluster.data.get("multi")?.value).toEqual(bytes);
  });

  test("--output json is one parseable document; --revision shows revisions", async () => {
    await dkv(["set", "j", "v1", endpoints]);
    const json = JSON.parse((await dkv(["get", "j", "--output", "json", endpoints])).stdout);
    expect(json).toMatchObject({ key: "j", value: "v1", version: 1 });
    expect(json.mod_revision).toBeGreaterThan(0);
    const table = await dkv(["get", "j", "--revision", "--consistency", "s", endpoints]);
    expect(table.stdout).toBe(`v1\nmod_revision=${json.mod_revision} create_revision=${json.create_revision} version=1\n`);
  });

  test("DKV_ENDPOINTS stands in for --endpoints", async () => {
    await dkv(["set", "env-key", "from-env"], { env: { DKV_ENDPOINTS: cluster.endpoints() } });
    expect((await dkv(["get", "env-key"], { env: { DKV_ENDPOINTS: cluster.endpoints("n3") } })).stdout).toBe("from-env\n");
  });

  test("del says whether the key existed; both exit 0", async () => {
    await dkv(["set", "gone", "x", endpoints]);
    expect((await dkv(["del", "gone", endpoints])).stdout).toBe('deleted "gone"\n');
    const again = await dkv(["del", "gone", "--output=json", endpoints]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ key: "gone", deleted: false });
  });

  test("list by prefix: table, keys only, json, and a note when --limit cut it short", async () => {
    for (const k of ["ls/a", "ls/b", "ls/c"]) await dkv(["set", k, k.toUpperCase(), endpoints]);
    expect((await dkv(["list", "ls/", endpoints])).stdout).toBe("KEY   VALUE\nls/a  LS/A\nls/b  LS/B\nls/c  LS/C\n");
    expect((await dkv(["list", "ls/", "--keys-only", endpoints])).stdout).toBe("ls/a\nls/b\nls/c\n");
    const limited = await dkv(["list", "ls/", "--limit", "2", "--output", "json", endpoints]);
    const doc = JSON.parse(limited.stdout);
    expect(doc.kvs.map((kv: { key: string }) => kv.key)).toEqual(["ls/a", "ls/b"]);
    expect(doc.more).toBe(true);
    expect(limited.stderr).toBe("");
    const limitedTable = await dkv(["list", "ls/", "--limit", "1", "--keys-only", endpoints]);
    expect(limitedTable.stdout).toBe("ls/a\n");
    expect(limitedTable.stderr).toContain("raise --limit");
  });
});

describe("dkv cas", () => {
  test("swaps when the value matches; a mismatch exits 1 showing the current value and revision", async () => {
    await dkv(["set", "lock", "free", endpoints]);
    expect(await dkv(["cas", "lock", "--expect", "free", "taken", endpoints])).toMatchObject({ code: 0, stdout: "OK\n" });
    const failed = await dkv(["cas", "lock", "--expect", "free", "mine", endpoints]);
    expectOneLineError(failed, 1, 'compare failed: key "lock" is "taken" at mod_revision');
    expect(failed.stderr).toContain('(expected "free")');
  });

  test("--expect-revision 0 creates only if absent; json shows the outcome even when it failed", async () => {
    expect((await dkv(["cas", "fresh", "--expect-revision", "0", "v", endpoints])).code).toBe(0);
    const again = await dkv(["cas", "fresh", "--expect-revision", "0", "w", "--output", "json", endpoints]);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({ succeeded: false, previous: { key: "fresh", value: "v" } });
  });

  test("cas without --expect is a usage error", async () => {
    expectOneLineError(await dkv(["cas", "k", "v", endpoints]), 2, "missing --expect");
  });
});

describe("dkv member, status, health", () => {
  test("member list as a table and as json", async () => {
    const table = await dkv(["member", "list", endpoints]);
    expect(table.code).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+PEER ADDRESS\s+CLIENT ADDRESS\s+LEADER\s+LEARNER$/);
    const json = JSON.parse((await dkv(["member", "list", "--output", "json", endpoints])).stdout);
    expect(json.members.map((m: { id: string }) => m.id)).toEqual(["n1", "n2", "n3"]);
    expect(json.members[1]).toMatchObject({ is_leader: true, client_address: cluster.node("n2").address() });
  });

  test("member add/update/remove, and the seed's spellings member-join/member-list/member-leave", async () => {
    expect((await dkv(["member", "add", "n7", "127.0.0.1:17007", "--learner", endpoints])).stdout).toBe('added learner "n7" at 127.0.0.1:17007\n');
    expect((await dkv(["member", "update", "n7", "127.0.0.2:17017", endpoints])).stdout).toBe('updated member "n7": peer address 127.0.0.2:17017\n');
    expect((await dkv(["member", "list", endpoints])).stdout).toContain("127.0.0.2:17017");
    expectOneLineError(await dkv(["member", "update", "n7", "not-an-address", endpoints]), 2, "PEER_ADDR");
    expect((await dkv(["member", "remove", "n7", endpoints])).code).toBe(0);
    expectOneLineError(await dkv(["member", "update", "n7", "127.0.0.2:17017", endpoints]), 1, 'member "n7" not found');
    expect((await dkv(["member-join", "n8", "127.0.0.1:17008", endpoints], { script: ALIASES })).code).toBe(0);
    expect((await dkv(["member-list", endpoints], { script: ALIASES })).stdout).toContain("n8");
    expect((await dkv(["member-leave", "n8", endpoints], { script: ALIASES })).code).toBe(0);
    expectOneLineError(await dkv(["member-leave", "n8", endpoints], { script: ALIASES }), 1, 'member "n8" not found');
  });

  test("member add with a malformed peer address is a usage error", async () => {
    expectOneLineError(await dkv(["member", "add", "n9", "not-an-address", endpoints]), 2, "PEER_ADDR");
  });

  test("status: a row per endpoint as a table, an array in json", async () => {
    const table = await dkv(["status", `--endpoints=${cluster.endpoints("n1")}`]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ENDPOINT\s+MEMBER\s+LEADER\s+TERM\s+COMMIT\s+APPLIED\s+DB SIZE\s+VERSION$/);
    expect(lines).toHaveLength(4);
    const json = JSON.parse((await dkv(["status", "--output", "json", endpoints])).stdout);
    expect(json.endpoints.map((e: { member_id: string; is_leader: boolean }) => [e.member_id, e.is_leader])).toEqual([["n1", false], ["n2", true], ["n3", false]]);
  });

  test("health exits 0 with a quorum", async () => {
    const run = await dkv(["health", endpoints]);
    expect(run).toMatchObject({ code: 0, stdout: "healthy: leader n2, 3 of 3 voting members answered\n" });
    expect(JSON.parse((await dkv(["health", "--output", "json", endpoints])).stdout)).toMatchObject({ healthy: true, leader_id: "n2", voters_answering: 3 });
  });
});

describe("dkv snapshot save", () => {
  test("writes the verified backup and reports its checksum", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dkv-cli-snap-"));
    try {
      const path = join(dir, "backup.db");
      const run = await dkv([path, "--output", "json", endpoints], { script: SNAPSHOT });
      expect(run.code).toBe(0);
      const doc = JSON.parse(run.stdout);
      expect(doc.sha256).toBe(new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex"));
      expect(readFileSync(path)).toEqual(Buffer.from(cluster.image()));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("failures people will meet", () => {
  let down: FakeCluster | undefined;
  afterEach(() => {
    down?.stop();
    down = undefined;
  });

  test("bad endpoint syntax is a usage error (exit 2) before any dial", async () => {
    expectOneLineError(await dkv(["get", "k", "--endpoints", "127.0.0.1"]), 2, 'bad endpoint "127.0.0.1"');
    expectOneLineError(await dkv(["get", "k"], { env: { DKV_ENDPOINTS: "http://x:1,ftp://y:2" } }), 2, "scheme must be http or https");
  });

  test("a bad --command-timeout or --limit is a usage error", async () => {
    expectOneLineError(await dkv(["get", "k", "--command-timeout", "5", endpoints]), 2, "--command-timeout must be a duration");
    expectOneLineError(await dkv(["list", "--limit", "many", endpoints]), 2, "--limit must be a whole number");
  });

  test("an unreachable cluster fails within --command-timeout, naming the endpoints tried", async () => {
    down = await FakeCluster.start();
    down.stop();
    const run = await dkv(["set", "k", "v", `--endpoints=${down.endpoints()}`, "--command-timeout", "700ms"]);
    expectOneLineError(run, 1, "no endpoint answered within 700ms");
    for (const node of down.nodes) expect(run.stderr).toContain(node.address());
    expect(run.elapsedMs).toBeLessThan(700 + 3000);
  });

  test("status: an endpoint that is down shows in the table and makes the exit code 1; all down is one line", async () => {
    down = await FakeCluster.start();
    down.node("n3").stop();
    const partial = await dkv(["status", `--endpoints=${down.endpoints()}`, "--command-timeout", "1s"]);
    expect(partial.code).toBe(1);
    expect(partial.stdout).toContain(`${down.node("n3").address()}  -`);
    expect(partial.stderr).toBe(`dkv: 1 of 3 endpoints did not answer: ${down.node("n3").address()}: connection refused\n`);
    down.stop();
    const none = await dkv(["status", `--endpoints=${down.endpoints()}`, "--command-timeout", "600ms"]);
    expectOneLineError(none, 1, "no endpoint answered status");
    expect(none.stdout).toBe("");
    expect(none.elapsedMs).toBeLessThan(600 + 3000);
  });

  test("health exits 1 when two of three members are down, with the reason", async () => {
    down = await FakeCluster.start();
    down.node("n2").stop();
    down.node("n3").stop();
    const run = await dkv(["health", `--endpoints=${down.endpoints()}`, "--command-timeout", "1s"]);
    expectOneLineError(run, 1, "unhealthy: only 1 of 3 voting members answered");
  });

  test("the first endpoint being down does not matter", async () => {
    down = await FakeCluster.start();
    down.node("n1").stop();
    expect((await dkv(["set", "k", "v", `--endpoints=${down.endpoints()}`])).code).toBe(0);
  });

  test("unknown flags and missing arguments are usage errors", async () => {
    expectOneLineError(await dkv(["get", "--bogus", "k", endpoints]), 2, 'unknown flag "--bogus"');
    expectOneLineError(await dkv(["set", "only-key", endpoints]), 2, "missing argument");
    expectOneLineError(await dkv(["get", "k", "--output", "xml", endpoints]), 2, '--output must be table or json, not "xml"');
    expectOneLineError(await dkv(["get", "k", "--consistency", "x", endpoints]), 2, "--consistency must be l (linearizable) or s (serializable)");
  });
});

describe("dkv over mutual TLS", () => {
  let certs: TestCerts;
  let secure: FakeCluster | undefined;
  beforeAll(async () => {
    certs = await mintTestCerts();
  });
  afterAll(() => {
    secure?.stop();
    certs?.remove();
  });

  test("--cacert/--cert/--key (or DKV_CACERT...) reach a TLS cluster; a wrong CA fails with one line", async () => {
    secure = await FakeCluster.start({ tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca } });
    const flags = [`--endpoints=${secure.endpoints()}`, `--cacert=${certs.caPath}`, `--cert=${certs.clientCertPath}`, `--key=${certs.clientKeyPath}`];
    expect((await dkv(["set", "t", "tls-ok", ...flags])).code).toBe(0);
    const viaEnv = await dkv(["get", "t"], {
      env: { DKV_ENDPOINTS: secure.endpoints(), DKV_CACERT: certs.caPath, DKV_CERT: certs.clientCertPath, DKV_KEY: certs.clientKeyPath },
    });
    expect(viaEnv.stdout).toBe("tls-ok\n");
    const wrongCa = await dkv(["get", "t", `--endpoints=${secure.endpoints()}`, `--cacert=${certs.otherCaPath}`, `--cert=${certs.clientCertPath}`, `--key=${certs.clientKeyPath}`]);
    expectOneLineError(wrongCa, 1, "not trusted by the given CA");
    expect(wrongCa.elapsedMs).toBeLessThan(3000);
    expectOneLineError(await dkv(["get", "t", `--endpoints=${secure.endpoints()}`, `--cert=${certs.clientCertPath}`]), 2, "--cert and --key go together");
  });
});
