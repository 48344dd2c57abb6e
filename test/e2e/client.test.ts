// The client commands of the compiled binary against a real 3-member cluster:
// every command in both output formats (json parsed), stdin values, the seed's
// aliases, exit codes (missing key 1, usage 2), failover past a dead first
// endpoint, `health` failing without a quorum, /metrics through a strict
// Prometheus parser (and promtool when installed), and bad input: missing
// args, unknown flags, bad endpoints, an unreachable or silent cluster, a
// wrong CA - always one line, the documented exit code, bounded time.
//
// Tests run in file order and share one cluster; the destructive ones (kill a
// member, then a second) come last.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parsePrometheusText } from "../api/prom-text.ts";
import { BINARY, Cluster, freePort, leaderOf, servers, waitFor, type Member } from "./cluster.ts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the binary to completion with no DKV_* variables from the outside; killed after timeoutMs. */
async function dkv(args: string[], options: { stdin?: Uint8Array | string; timeoutMs?: number } = {}): Promise<Run> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith("DKV_") && value !== undefined) env[name] = value;
  const started = Date.now();
  const stdin = typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin;
  const proc = Bun.spawn([BINARY, ...args], { stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe", env });
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 20_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr, ms: Date.now() - started };
}

/** Fails with the command's stderr unless it exited 0. */
async function ok(args: string[], stdin?: string | Uint8Array): Promise<string> {
  const run = await dkv(args, stdin === undefined ? {} : { stdin });
  if (run.code !== 0) throw new Error(`dkv ${args.join(" ")} exited ${run.code}: ${run.stderr}`);
  return run.stdout;
}

const json = async <T = any>(args: string[], stdin?: string | Uint8Array): Promise<T> => JSON.parse(await ok([...args, "--output", "json"], stdin)) as T;

/** One line on stderr, nothing on stdout, the given exit code, within maxMs. */
function expectOneLineFailure(run: Run, code: number, maxMs: number): void {
  expect({ code: run.code, stdout: run.stdout }).toEqual({ code, stdout: "" });
  expect(run.stderr.endsWith("\n")).toBe(true);
  expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(run.stderr).not.toMatch(/\bat .*\.ts:\d+|Error:|\x1b\[/); // no stack trace, no colour
  expect(run.ms).toBeLessThan(maxMs);
}

let cluster: Cluster;
let all = "";
const addr = (m: Member) => `${m.host}:${m.clientPort}`;

beforeAll(async () => {
  cluster = new Cluster({ size: 3 });
  await cluster.startAll();
  await waitFor("a leader with 3 voters", 20_000, async () => {
    const leader = await leaderOf(cluster);
    return leader && (await servers(cluster.endpoint(leader))).filter((s) => !s.isLearner).length === 3;
  }, 100).catch((error) => {
    throw new Error(`${error.message}\n${cluster.allLogs()}`);
  });
  all = cluster.members.map(addr).join(",");
}, 30_000);

afterAll(async () => {
  await cluster?.stopAll();
  cluster?.cleanup();
});

describe("key commands", () => {
  test("set, get (l and s, --revision, json), stdin values, binary values", async () => {
    expect(await ok(["set", "greeting", "hello", "--endpoints", all])).toBe("OK\n");
    expect(await ok(["get", "greeting", "--endpoints", all])).toBe("hello\n");
    expect(await ok(["get", "greeting", "--consistency", "l", "--endpoints", all])).toBe("hello\n");
    const written = await json(["set", "greeting", "hello again", "--endpoints", all]);
    expect(written).toMatchObject({ key: "greeting", value: "hello again", version: 2 });
    expect(written.mod_revision).toBeGreaterThan(written.create_revision);

    const withRevision = (await ok(["get", "greeting", "--revision", "--endpoints", all])).split("\n");
    expect(withRevision[0]).toBe("hello again");
    expect(withRevision[1]).toBe(`mod_revision=${written.mod_revision} create_revision=${written.create_revision} version=2`);

    const got = await json(["get", "greeting", "--endpoints", all]);
    expect(got).toMatchObject({ key: "greeting", value: "hello again", create_revision: written.create_revision, mod_revision: written.mod_revision, version: 2 });
    expect(got.revision).toBeGreaterThanOrEqual(written.mod_revision);
    expect(cluster.members.map((m) => m.name)).toContain(got.member_id);

    // A serializable read on each member is local: it converges to the write.
    for (const m of cluster.members) {
      await waitFor(`${m.name} to serve the write locally`, 5000, async () => (await dkv(["get", "greeting", "--consistency", "s", "--endpoints", addr(m)])).stdout === "hello again\n");
    }

    // VALUE "-" reads stdin, bytes unchanged (newlines kept, no trailing newline added).
    expect(await ok(["set", "from-stdin", "-", "--endpoints", all], "line 1\nline 2\n")).toBe("OK\n");
    expect(await json(["get", "from-stdin", "--endpoints", all])).toMatchObject({ value: "line 1\nline 2\n" });
    await ok(["set", "binary", "-", "--endpoints", all], new Uint8Array([0, 1, 254, 255]));
    const binary = await json(["get", "binary", "--endpoints", all]);
    expect(binary.value).toBeUndefined();
    expect(Buffer.from(binary.value_base64, "base64")).toEqual(Buffer.from([0, 1, 254, 255]));
  }, 30_000);

  test("del, and a missing key exits 1 with one line", async () => {
    await ok(["set", "doomed", "x", "--endpoints", all]);
    expect(await ok(["del", "doomed", "--endpoints", all])).toBe('deleted "doomed"\n');
    expect(await ok(["del", "doomed", "--endpoints", all])).toBe('key "doomed" did not exist\n');
    expect(await json(["del", "doomed", "--endpoints", all])).toMatchObject({ key: "doomed", deleted: false });
    const missing = await dkv(["get", "doomed", "--endpoints", all]);
    expectOneLineFailure(missing, 1, 5000);
    expect(missing.stderr).toBe('dkv: key "doomed" not found\n');
    expect((await dkv(["get", "doomed", "--endpoints", all, "--output", "json"])).code).toBe(1);
  });

  test("del --prefix and --range-end delete many keys in one revision; member records are never in range", async () => {
    for (const key of ["purge/a", "purge/b", "purge/c", "purgeX", "range/1", "range/2", "range/3"]) await ok(["set", key, "x", "--endpoints", all]);
    const before = (await json(["get", "purgeX", "--endpoints", all])).revision as number;
    const purged = await json(["del", "purge/", "--prefix", "--endpoints", all]);
    expect(purged).toMatchObject({ key: "purge/", deleted: true, deleted_count: 3 });
    expect(purged.revision).toBe(before + 1);
    expect(await ok(["list", "purge", "--keys-only", "--endpoints", all])).toContain("purgeX");
    expect(await ok(["list", "purge/", "--keys-only", "--endpoints", all])).not.toContain("purge/");
    expect(await ok(["del", "range/1", "--range-end", "range/3", "--endpoints", all])).toBe("deleted 2 key(s)\n");
    expect(await json(["get", "range/3", "--endpoints", all])).toMatchObject({ key: "range/3" });
    expect(await ok(["del", "nothing/", "--prefix", "--endpoints", all])).toBe("deleted 0 key(s)\n");
    const both = await dkv(["del", "a", "--prefix", "--range-end", "b", "--endpoints", all]);
    expectOneLineFailure(both, 2, 5000);
    const backwards = await dkv(["del", "b", "--range-end", "a", "--endpoints", all]);
    expectOneLineFailure(backwards, 1, 5000);
    expect(backwards.stderr).toContain("must sort after key");
    // Everything: the members stay members.
    await ok(["del", "", "--prefix", "--endpoints", all]);
    expect(await ok(["list", "--endpoints", all])).toBe("");
    expect((await ok(["member", "list", "--endpoints", all])).trim().split("\n")).toHaveLength(4);
  }, 30_000);

  test("txn: a JSON transaction from stdin; SUCCESS or FAILURE and one line per result; bad JSON exits 2", async () => {
    const doc = (owner: string) =>
      JSON.stringify({
        compare: [{ key: "txn/lock", target: "create_revision", result: "equal", number: 0 }],
        success: [{ put: { key: "txn/lock", value: owner } }, { get: { key: "txn/lock" } }],
        failure: [{ get: { key: "txn/lock" } }],
      });
    const first = await ok(["txn", "--endpoints", all], doc("alice"));
    expect(first).toMatch(/^SUCCESS\nput "txn\/lock" revision=\d+\nget "txn\/lock" alice revision=\d+\n$/);
    expect(await ok(["txn", "-", "--endpoints", all], doc("bob"))).toMatch(/^FAILURE\nget "txn\/lock" alice revision=\d+\n$/);
    const asJson = await json(["txn", "--endpoints", all], doc("carol"));
    expect(asJson).toMatchObject({ succeeded: false, results: [{ get: { found: true, key: "txn/lock", value: "alice" } }] });
    const reads = JSON.stringify({ success: [{ put: { key: "txn/x", value: "1" } }, { list: { prefix: "txn/", keys_only: true } }, { list: { key: "txn/", range_end: "txn0", count_only: true } }] });
    expect(await ok(["txn", "--endpoints", all], reads)).toMatch(/^SUCCESS\nput "txn\/x" revision=\d+\nlist 2 key\(s\)\n {2}"txn\/lock" revision=\d+\n {2}"txn\/x" revision=\d+\nlist: 2 key\(s\)\n$/);
    for (const [input, message] of [
      ["{", "not valid JSON"],
      ['{"compare": [{"key": "k", "target": "colour"}]}', "compare[0].target must be one of"],
      ['{"success": [{"put": {"key": "k"}}]}', "success[0].put.value must be a string"],
      ['{"success": [{"frob": {}}]}', 'must be one of put, delete, get, list; not "frob"'],
      ['{"success": [{"list": {"prefix": "a", "range_end": "b"}}]}', 'takes "prefix" or "key" with "range_end", not both'],
      ['{"sucess": []}', 'unknown field "sucess"'],
    ] as const) {
      const bad = await dkv(["txn", "--endpoints", all], { stdin: input });
      expectOneLineFailure(bad, 2, 5000);
      expect(bad.stderr).toContain(message);
    }
  }, 30_000);

  test("list: prefix, --limit, --keys-only, table and json", async () => {
    for (const key of ["p/1", "p/2", "p/3", "q/1"]) await ok(["set", key, `v-${key}`, "--endpoints", all]);
    expect(await ok(["list", "p/", "--endpoints", all])).toBe("KEY  VALUE\np/1  v-p/1\np/2  v-p/2\np/3  v-p/3\n");
    expect(await ok(["list", "p/", "--keys-only", "--endpoints", all])).toBe("p/1\np/2\np/3\n");

    const limited = await dkv(["list", "p/", "--limit", "2", "--endpoints", all]);
    expect(limited.code).toBe(0);
    expect(limited.stdout).toBe("KEY  VALUE\np/1  v-p/1\np/2  v-p/2\n");
    expect(limited.stderr).toContain("more keys match");

    const page = await json(["list", "p/", "--limit", "2", "--endpoints", all]);
    expect(page.more).toBe(true);
    expect(page.kvs.map((kv: { key: string }) => kv.key)).toEqual(["p/1", "p/2"]);
    expect(page.kvs[0]).toMatchObject({ key: "p/1", value: "v-p/1", version: 1 });
    const keysOnly = await json(["list", "p/", "--keys-only", "--consistency", "s", "--endpoints", all]);
    expect(keysOnly.more).toBe(false);
    expect(keysOnly.kvs.map((kv: { key: string }) => kv.key)).toEqual(["p/1", "p/2", "p/3"]);
    for (const kv of keysOnly.kvs) expect(kv.value).toBeUndefined();
    // No prefix: every client key, none of the members' reserved records.
    const everything = await json(["list", "--endpoints", all]);
    expect(everything.kvs.map((kv: { key: string }) => kv.key)).toContain("q/1");
    expect(everything.kvs.every((kv: { key: string }) => !kv.key.startsWith("\u0000"))).toBe(true);

    // A range [p/2, q/1) and counts, as etcdctl get --range-end / --count-only.
    expect(await ok(["list", "p/2", "--range-end", "q/1", "--keys-only", "--endpoints", all])).toBe("p/2\np/3\n");
    expect(await ok(["list", "p/", "--count-only", "--endpoints", all])).toBe("3\n");
    expect(await json(["list", "p/2", "--range-end", "q/2", "--count-only", "--endpoints", all])).toMatchObject({ count: 3 });
    const backwards = await dkv(["list", "q/", "--range-end", "p/", "--endpoints", all]);
    expectOneLineFailure(backwards, 1, 5000);
    expect(backwards.stderr).toContain("must sort after key");
  });

  test("cas: --expect on the value, --expect-revision on the mod revision (0 = absent), failures exit 1", async () => {
    await ok(["set", "lock", "free", "--endpoints", all]);
    expect(await ok(["cas", "lock", "taken", "--expect", "free", "--endpoints", all])).toBe("OK\n");
    const lost = await dkv(["cas", "lock", "mine", "--expect", "free", "--endpoints", all]);
    expectOneLineFailure(lost, 1, 5000);
    expect(lost.stderr).toMatch(/^dkv: compare failed: key "lock" is "taken" at mod_revision \d+ \(expected "free"\)\n$/);

    const current = await json(["get", "lock", "--endpoints", all]);
    const swapped = await json(["cas", "lock", "released", "--expect-revision", String(current.mod_revision), "--endpoints", all]);
    expect(swapped).toMatchObject({ key: "lock", succeeded: true, previous: { value: "taken", mod_revision: current.mod_revision } });
    const stale = await dkv(["cas", "lock", "again", "--expect-revision", String(current.mod_revision), "--endpoints", all, "--output", "json"]);
    expect(stale.code).toBe(1);
    expect(JSON.parse(stale.stdout)).toMatchObject({ key: "lock", succeeded: false, previous: { value: "released" } });

    expect(await ok(["cas", "brand-new", "first", "--expect-revision", "0", "--endpoints", all])).toBe("OK\n");
    expect((await dkv(["cas", "brand-new", "second", "--expect-revision", "0", "--endpoints", all])).code).toBe(1);
    expect(await ok(["cas", "brand-new", "-", "--expect", "first", "--endpoints", all], "from stdin")).toBe("OK\n");
    expect(await ok(["get", "brand-new", "--endpoints", all])).toBe("from stdin\n");
  });
});

describe("member, status, health", () => {
  test("member list/add/remove and the aliases member-list, member-join, member-leave", async () => {
    const listed = await json(["member", "list", "--endpoints", all]);
    expect(listed.members.map((m: { id: string }) => m.id)).toEqual(["n0", "n1", "n2"]);
    for (const m of cluster.members) {
      expect(listed.members.find((x: { id: string }) => x.id === m.name)).toMatchObject({ peer_address: cluster.peerAddress(m), client_address: addr(m), is_learner: false });
    }
    expect(listed.members.filter((m: { is_leader: boolean }) => m.is_leader)).toHaveLength(1);
    const table = (await ok(["member-list", "--endpoints", all])).split("\n");
    expect(table[0]).toMatch(/^ID\s+PEER ADDRESS\s+CLIENT ADDRESS\s+LEADER\s+LEARNER$/);
    expect(table.filter((line) => /^n\d\s/.test(line))).toHaveLength(3);

    // Learners: they never count toward the quorum, so a member that never starts is harmless.
    const spare = `127.0.0.9:${freePort("127.0.0.1")}`;
    expect(await ok(["member", "add", "extra", spare, "--learner", "--endpoints", all])).toBe(`added learner "extra" at ${spare}\n`);
    expect(await json(["member-join", "extra2", spare.replace(/\d+$/, (p) => String(Number(p) + 1)), "--learner", "--endpoints", all])).toMatchObject({
      added: { id: "extra2", is_learner: true },
    });
    const grown = await json(["member-list", "--endpoints", all]);
    expect(grown.members.filter((m: { is_learner: boolean }) => m.is_learner).map((m: { id: string }) => m.id)).toEqual(["extra", "extra2"]);
    const again = await dkv(["member", "add", "extra", spare, "--learner", "--endpoints", all]);
    expectOneLineFailure(again, 1, 6000);
    expect(again.stderr).toContain("already");

    expect(await ok(["member", "remove", "extra", "--endpoints", all])).toBe('removed member "extra"\n');
    expect(await json(["member-leave", "extra2", "--endpoints", all])).toEqual({ removed: { id: "extra2" } });
    expect((await json(["member", "list", "--endpoints", all])).members.map((m: { id: string }) => m.id)).toEqual(["n0", "n1", "n2"]);
    const unknown = await dkv(["member", "remove", "nobody", "--endpoints", all]);
    expectOneLineFailure(unknown, 1, 6000);
    expect(unknown.stderr).toContain("nobody");
  }, 30_000);

  test("member move-leader hands the lead to the member named; writes go on under it", async () => {
    const before = await json(["member", "list", "--endpoints", all]);
    const leader = before.members.find((m: { is_leader: boolean }) => m.is_leader).id as string;
    const target = before.members.find((m: { id: string }) => m.id !== leader).id as string;
    expect(await ok(["member", "move-leader", target, "--endpoints", all])).toMatch(new RegExp(`^leader is now "${target}" \\(term \\d+\\)\\n$`));
    const after = await json(["member", "list", "--endpoints", all]);
    expect(after.members.find((m: { is_leader: boolean }) => m.is_leader).id).toBe(target);
    expect(await ok(["set", "after-move", "1", "--endpoints", all])).toBe("OK\n");
    const unknown = await dkv(["member", "move-leader", "nobody", "--endpoints", all]);
    expectOneLineFailure(unknown, 1, 6000);
    expect(unknown.stderr).toContain("not a voting member");
  }, 30_000);

  test("status (table and json) and health with all members up", async () => {
    const status = await json(["status", "--endpoints", all]);
    expect(status.endpoints).toHaveLength(3);
    expect(status.endpoints.map((e: { member_id: string }) => e.member_id).sort()).toEqual(["n0", "n1", "n2"]);
    expect(status.endpoints.filter((e: { is_leader: boolean }) => e.is_leader)).toHaveLength(1);
    expect(new Set(status.endpoints.map((e: { cluster_id: string }) => e.cluster_id)).size).toBe(1);
    for (const e of status.endpoints) {
      expect(e.raft_term).toBeGreaterThan(0);
      expect(e.commit_index).toBeGreaterThanOrEqual(e.applied_index);
      expect(e.applied_index).toBeGreaterThan(0);
      expect(e.db_size_bytes).toBeGreaterThan(0);
      expect(typeof e.version).toBe("string");
    }
    const table = (await ok(["status", "--endpoints", all])).split("\n");
    expect(table[0]).toMatch(/^ENDPOINT\s+MEMBER\s+LEADER\s+TERM\s+COMMIT\s+APPLIED\s+DB SIZE\s+VERSION$/);
    expect(table.filter((line) => line.startsWith("127.0.0."))).toHaveLength(3);

    // One endpoint is enough: the others are discovered.
    const first = addr(cluster.members[0]!);
    expect(await ok(["health", "--endpoints", first])).toMatch(/^healthy: leader n\d, 3 of 3 voting members answered\n$/);
    const health = await json(["health", "--endpoints", first]);
    expect(health).toMatchObject({ healthy: true, voters_total: 3, voters_answering: 3 });
    expect(health.members).toHaveLength(3);
  });

  test("/metrics is valid Prometheus text with the metrics the issue lists", async () => {
    const m = cluster.members[0]!;
    const response = await fetch(`${cluster.endpoint(m)}/metrics`, { signal: AbortSignal.timeout(5000) });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/plain");
    const text = await response.text();
    const families = parsePrometheusText(text);
    for (const name of [
      "dkv_server_has_leader",
      "dkv_server_leader_changes_seen_total",
      "dkv_server_term",
      "dkv_server_commit_index",
      "dkv_server_applied_index",
      "dkv_server_proposals_committed_total",
      "dkv_server_proposals_failed_total",
      "dkv_server_proposals_pending",
      "dkv_server_apply_duration_seconds",
      "dkv_disk_wal_fsync_duration_seconds",
      "dkv_network_peer_round_trip_time_seconds",
      "dkv_network_peers_connected",
      "dkv_mvcc_db_total_size_in_bytes",
      "dkv_mvcc_keys",
      "dkv_watch_watchers",
      "dkv_watch_history_oldest_revision",
      "dkv_lease_leases",
      "dkv_lease_timed",
      "dkv_server_event_loop_delay_seconds",
      "dkv_api_requests_total",
    ]) {
      expect(families.has(name) ? name : `missing ${name}`).toBe(name);
    }
    expect(families.get("dkv_server_has_leader")!.samples[0]!.value).toBe(1);
    expect(families.get("dkv_network_peers_connected")!.samples[0]!.value).toBe(2);
    expect(families.get("dkv_server_apply_duration_seconds")!.type).toBe("histogram");
    expect(families.get("dkv_disk_wal_fsync_duration_seconds")!.type).toBe("histogram");
    // The tick timer fires every heartbeat interval, each one observed.
    const delayCount = families.get("dkv_server_event_loop_delay_seconds")!.samples.find((s) => s.name === "dkv_server_event_loop_delay_seconds_count");
    expect(delayCount?.value ?? 0).toBeGreaterThan(0);
    // Requests by method and code: this test file's own get/set calls are counted.
    const requests = families.get("dkv_api_requests_total")!.samples;
    expect(requests.some((s) => s.labels.method !== undefined && s.labels.code !== undefined && s.value > 0)).toBe(true);

    const promtool = Bun.which("promtool");
    if (promtool !== null) {
      const check = Bun.spawnSync([promtool, "check", "metrics"], { stdin: new TextEncoder().encode(text), timeout: 10_000 });
      expect({ code: check.exitCode, output: check.stdout.toString() + check.stderr.toString() }).toEqual({ code: 0, output: "" });
    }
  });
});

describe("bad input: one line, the documented exit code, bounded time", () => {
  test("usage errors exit 2 without touching the network", async () => {
    const cases: [string[], RegExp][] = [
      [["get"], /missing argument KEY/],
      [["set", "k"], /missing argument VALUE/],
      [["cas", "k", "v"], /--expect/],
      [["cas", "k", "v", "--expect", "a", "--expect-revision", "1"], /not both/],
      [["member", "add", "x"], /missing argument PEER-ADDR|missing argument PEER_ADDR/],
      [["get", "k", "--bogus"], /unknown flag "--bogus"/],
      [["get", "k", "extra-arg"], /too many arguments/],
      [["frobnicate"], /unknown command "frobnicate"/],
      [["get", "k", "--endpoints", "not an endpoint"], /bad endpoint/],
      [["get", "k", "--endpoints", "127.0.0.1:99999"], /port must be 1-65535/],
      [["get", "k", "--endpoints", "127.0.0.1"], /bad endpoint "127.0.0.1": expected host:port/],
      [["get", "k", "--endpoints", "ftp://127.0.0.1:2379"], /scheme must be http or https/],
      [["get", "k", "--endpoints", ","], /no endpoints given/],
      [["get", "k", "--output", "yaml"], /--output must be table or json/],
      [["get", "k", "--consistency", "x"], /--consistency must be/],
      [["list", "--limit", "many"], /--limit must be a whole number/],
      [["get", "k", "--command-timeout", "soon"], /command-timeout/],
      [["get", "k", "--cert", "/tmp/c.pem"], /--cert and --key go together/],
      [["snapshot", "restore", "f.db"], /--data-dir is required/],
    ];
    for (const [args, pattern] of cases) {
      const run = await dkv(args);
      try {
        expectOneLineFailure(run, 2, 3000);
        expect(run.stderr).toMatch(pattern);
        expect(run.stderr).toContain("--help");
      } catch (error) {
        throw new Error(`dkv ${args.join(" ")}: ${JSON.stringify(run)}\n${error}`);
      }
    }
  }, 60_000);

  test("an unreachable cluster fails within the timeout, naming the endpoints tried", async () => {
    const dead = [`127.0.0.1:${freePort("127.0.0.1")}`, `127.0.0.2:${freePort("127.0.0.2")}`];
    const run = await dkv(["get", "k", "--endpoints", dead.join(","), "--command-timeout", "1s"]);
    expectOneLineFailure(run, 1, 3000);
    for (const endpoint of dead) expect(run.stderr).toContain(endpoint);
    const health = await dkv(["health", "--endpoints", dead[0]!, "--command-timeout", "1s"]);
    expectOneLineFailure(health, 1, 3000);
    expect(health.stderr).toContain(dead[0]!);
  });

  test("a member that accepts connections but never answers: bounded by --command-timeout", async () => {
    const sockets: { end(): void }[] = [];
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: (s) => void sockets.push(s), data() {} } });
    try {
      const endpoint = `127.0.0.1:${silent.port}`;
      const run = await dkv(["set", "k", "v", "--endpoints", endpoint, "--command-timeout", "1500ms"]);
      expectOneLineFailure(run, 1, 4000);
      expect(run.ms).toBeGreaterThanOrEqual(1000);
      expect(run.stderr).toContain(endpoint);
    } finally {
      for (const s of sockets) s.end();
      silent.stop(true);
    }
  });

  describe("TLS", () => {
    const dir = mkdtempSync(join(tmpdir(), "dkv-client-tls-"));
    let tls: Cluster;
    beforeAll(async () => {
      for (const args of [
        ["certs", "init", "--dir", join(dir, "ca")],
        ["certs", "init", "--dir", join(dir, "other"), "--cn", "someone else"],
        ["certs", "issue", "server", "--ip", "127.0.0.7", "--server", "--dir", join(dir, "ca")],
      ]) await ok(args);
      tls = new Cluster({ size: 1, firstHost: 7, prefix: "t", clientScheme: "https", flags: ["--cert-file", join(dir, "ca", "server.crt"), "--key-file", join(dir, "ca", "server.key")] });
      tls.start(tls.members[0]!);
      await waitFor("the TLS member to lead", 15_000, async () => {
        const run = await dkv(["status", "--endpoints", addr(tls.members[0]!), "--cacert", join(dir, "ca", "ca.crt"), "--output", "json"]);
        return run.code === 0 && JSON.parse(run.stdout).endpoints[0].is_leader === true;
      }, 200).catch((error) => {
        throw new Error(`${error.message}\n${tls.allLogs()}`);
      });
    }, 30_000);
    afterAll(async () => {
      await tls?.stopAll();
      tls?.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    test("the right CA works; a wrong CA, or none, fails in one line", async () => {
      const endpoint = addr(tls.members[0]!);
      await ok(["set", "secure", "yes", "--endpoints", endpoint, "--cacert", join(dir, "ca", "ca.crt")]);
      expect(await ok(["get", "secure", "--endpoints", endpoint, "--cacert", join(dir, "ca", "ca.crt")])).toBe("yes\n");

      const wrong = await dkv(["get", "secure", "--endpoints", endpoint, "--cacert", join(dir, "other", "ca.crt"), "--command-timeout", "2s"]);
      expectOneLineFailure(wrong, 1, 5000);
      expect(wrong.stderr).toContain(endpoint);
      expect(wrong.stderr).toContain("not trusted by the given CA");

      const plain = await dkv(["get", "secure", "--endpoints", endpoint, "--command-timeout", "2s"]);
      expectOneLineFailure(plain, 1, 5000);
      expect(plain.stderr).toContain("pass --cacert");
      const missingCa = await dkv(["get", "secure", "--endpoints", endpoint, "--cacert", join(dir, "nope.crt")]);
      expectOneLineFailure(missingCa, 1, 3000);
      expect(missingCa.stderr).toContain("nope.crt");
    }, 20_000);
  });
});

describe("failures of members (destructive: runs last)", () => {
  test("the first endpoint given is down: commands fail over to the next one", async () => {
    const victim = cluster.members[0]!;
    await cluster.kill(victim);
    const endpoints = [victim, ...cluster.members.slice(1)].map(addr).join(",");
    const set = await dkv(["set", "after-kill", "still works", "--endpoints", endpoints]);
    expect(set).toMatchObject({ code: 0, stdout: "OK\n" });
    expect(set.ms).toBeLessThan(5000);
    expect(await ok(["get", "after-kill", "--endpoints", endpoints])).toBe("still works\n");
    expect(await ok(["list", "p/", "--keys-only", "--endpoints", endpoints])).toBe("p/1\np/2\np/3\n");
    // Two of three voters still make a quorum.
    expect(await ok(["health", "--endpoints", endpoints])).toMatch(/^healthy: .*2 of 3 voting members answered\n$/);
    // status lists the dead endpoint and exits 1, after printing what it got.
    const status = await dkv(["status", "--endpoints", endpoints]);
    expect(status.code).toBe(1);
    expect(status.stdout.split("\n").filter((line) => line.startsWith("127.0.0."))).toHaveLength(3);
    expect(status.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(status.stderr).toContain(addr(victim));
  }, 30_000);

  test("health exits non-zero when two of three members are stopped", async () => {
    await cluster.kill(cluster.members[1]!);
    const endpoints = cluster.members.map(addr).join(",");
    const health = await dkv(["health", "--endpoints", endpoints, "--command-timeout", "3s"]);
    expectOneLineFailure(health, 1, 6000);
    expect(health.stderr).toMatch(/^dkv: unhealthy: /);
    const report = await dkv(["health", "--endpoints", endpoints, "--command-timeout", "3s", "--output", "json"]);
    expect(report.code).toBe(1);
    expect(JSON.parse(report.stdout)).toMatchObject({ healthy: false, voters_total: 3, voters_answering: 1 });
    // A write cannot commit without a quorum: it fails within the timeout, in one line.
    const write = await dkv(["set", "no-quorum", "x", "--endpoints", endpoints, "--command-timeout", "2s"]);
    expectOneLineFailure(write, 1, 5000);
  }, 30_000);
});
