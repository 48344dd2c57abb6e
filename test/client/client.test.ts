// The client library against an in-process fake cluster: discovery, leader
// routing, failover, deadlines, and the rule that a compare-and-swap is never
// sent twice.
import { afterEach, describe, expect, setSystemTime, test } from "bun:test";
import { Code } from "@connectrpc/connect";
import { mkdtempSync, rmSync, existsSync, readFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ClusterUnavailableError, createDkvClient, LocalFileError, OutcomeUnknownError, ServerError, SnapshotIntegrityError } from "../../src/client/index.ts";
import { FakeCluster } from "./fake-cluster.ts";

let cluster: FakeCluster | undefined;
afterEach(() => {
  cluster?.stop();
  cluster = undefined;
});

async function start(options: Parameters<typeof FakeCluster.start>[0] = {}): Promise<FakeCluster> {
  cluster = await FakeCluster.start(options);
  return cluster;
}

describe("discovery and routing", () => {
  test("one endpoint is enough: the others are learned from GetServers", async () => {
    const c = await start();
    const client = createDkvClient({ endpoints: c.endpoints("n3") });
    await client.put("a", "1");
    expect(c.node("n3").count("GetServers")).toBe(1);
    expect(client.endpoints.sort()).toEqual(c.nodes.map((n) => n.address()).sort());
    expect(client.leaderId).toBe("n1");
  });

  test("writes and linearizable reads go to the node that claims leadership", async () => {
    const c = await start({ leaderId: "n2" });
    const client = createDkvClient({ endpoints: c.endpoints("n1", "n3") });
    await client.put("a", "1");
    await client.delete("a");
    await client.get("a");
    await client.compareAndSwap({ key: "b", expect: { absent: true }, value: "x" });
    expect(c.node("n2").calls).toEqual(["Set", "Delete", "Get", "CompareAndSwap"]);
    expect(c.node("n1").calls).toEqual(["GetServers"]);
    expect(c.node("n3").calls).toEqual([]);
  });

  test("a serializable read goes to the first endpoint without asking for the leader", async () => {
    const c = await start({ leaderId: "n2" });
    const client = createDkvClient({ endpoints: c.endpoints("n3", "n1") });
    expect((await client.get("missing", { consistency: "serializable" })).kv).toBeUndefined();
    expect(c.node("n3").calls).toEqual(["Get"]);
  });

  test("values are bytes; strings are UTF-8", async () => {
    await start();
    const client = createDkvClient({ endpoints: cluster!.endpoints() });
    const bytes = new Uint8Array([0, 255, 10, 13]);
    await client.put("bin", bytes);
    await client.put("text", "grüße");
    expect((await client.get("bin")).kv?.value).toEqual(bytes);
    expect(await client.getText("text")).toBe("grüße");
    expect(await client.getText("absent")).toBeUndefined();
  });

  test("list by prefix with a limit reports that more keys exist", async () => {
    await start();
    const client = createDkvClient({ endpoints: cluster!.endpoints() });
    for (const k of ["app/a", "app/b", "app/c", "other"]) await client.put(k, k.toUpperCase());
    const page = await client.list({ prefix: "app/", limit: 2 });
    expect(page.kvs.map((kv) => kv.key)).toEqual(["app/a", "app/b"]);
    expect(page.more).toBe(true);
    const keys = await client.list({ prefix: "app/", keysOnly: true });
    expect(keys.kvs.map((kv) => kv.value.byteLength)).toEqual([0, 0, 0]);
  });
});

describe("failover", () => {
  test("a stopped first endpoint is skipped", async () => {
    const c = await start({ leaderId: "n2" });
    c.node("n1").stop();
    const client = createDkvClient({ endpoints: c.endpoints(), commandTimeoutMs: 2000 });
    await client.put("a", "1");
    expect(c.data.has("a")).toBe(true);
  });

  test("a stopped leader: the write goes to a follower (which would forward it)", async () => {
    const c = await start({ leaderId: "n1" });
    const client = createDkvClient({ endpoints: c.endpoints(), commandTimeoutMs: 2000 });
    await client.put("a", "1");
    c.node("n1").stop();
    await client.put("b", "2");
    expect(c.node("n2").count("Set") + c.node("n3").count("Set")).toBe(1);
  });

  test("an endpoint answering unavailable is passed over for the next", async () => {
    const c = await start({ leaderId: "n1" });
    c.node("n1").knobs.unavailable = true;
    const client = createDkvClient({ endpoints: c.endpoints(), commandTimeoutMs: 2000 });
    await client.put("a", "1");
    expect(c.node("n1").count("Set")).toBe(1);
    expect(c.node("n2").count("Set")).toBe(1);
    expect(c.data.get("a")).toBeDefined();
  });

  test("a hung endpoint costs one attempt timeout, then the next endpoint answers", async () => {
    const c = await start({ leaderId: "n1" });
    c.node("n1").knobs.hang = true;
    const client = createDkvClient({ endpoints: c.endpoints(), commandTimeoutMs: 3000, attemptTimeoutMs: 300 });
    const started = performance.now();
    await client.get("a", { consistency: "serializable" });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(c.node("n2").count("Get")).toBe(1);
  });

  test("when every endpoint is down, one error after the deadline names each endpoint and the last cause", async () => {
    const c = await start();
    c.stop();
    const client = createDkvClient({ endpoints: c.endpoints(), commandTimeoutMs: 600 });
    const started = performance.now();
    const error = await client.get("a").catch((e: unknown) => e);
    const elapsedMs = performance.now() - started;
    expect(error).toBeInstanceOf(ClusterUnavailableError);
    const message = (error as Error).message;
    for (const node of c.nodes) expect(message).toContain(node.address());
    expect(message).toContain("connection refused");
    expect(message).toContain("within 600ms");
    expect(message.split("\n")).toHaveLength(1);
    expect(elapsedMs).toBeGreaterThanOrEqual(550);
    expect(elapsedMs).toBeLessThan(1500);
  });

  test("the deadline follows elapsed time, not the wall clock: a clock stepped back does not stretch it", async () => {
    const c = await start();
    c.stop();
    const client = createDkvClient({ endpoints: c.endpoints(), commandTimeoutMs: 600 });
    const started = performance.now();
    const pending = client.get("a").catch((e: unknown) => e);
    // An NTP step of an hour backwards while the command retries.
    setSystemTime(new Date(Date.now() - 3_600_000));
    try {
      expect(await pending).toBeInstanceOf(ClusterUnavailableError);
    } finally {
      setSystemTime();
    }
    expect(performance.now() - started).toBeLessThan(1500);
  });

  test("a slow cluster that never answers in time fails at the deadline", async () => {
    const c = await start();
    for (const node of c.nodes) node.knobs.delayMs = 2000;
    const client = createDkvClient({ endpoints: c.endpoints(), commandTimeoutMs: 500 });
    const started = performance.now();
    await expect(client.get("a", { consistency: "serializable" })).rejects.toThrow(ClusterUnavailableError);
    expect(performance.now() - started).toBeLessThan(1500);
  });
});

describe("errors that are not retried", () => {
  test("an endpoint that is some other HTTP server is named as not a dkv client port", async () => {
    const answers = [
      { status: 501, type: "text/html", said: "HTTP 501: this is not a dkv client port (check the endpoint's host and port)" },
      { status: 200, type: "text/html", said: "unsupported content type text/html: this is not a dkv client port (check the endpoint's host and port)" },
      { status: 404, type: "text/plain", said: "HTTP 404: no such method here (an older dkv member, or not a dkv client port)" },
    ];
    for (const answer of answers) {
      const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("<html>a web page</html>", { status: answer.status, headers: { "content-type": answer.type } }) });
      try {
        const error = await createDkvClient({ endpoints: [`127.0.0.1:${server.port}`] }).get("k").catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ServerError);
        expect((error as Error).message).toStartWith(answer.said);
      } finally {
        server.stop(true);
      }
    }
  });

  test("invalid_argument comes back at once from the first endpoint, not after trying the others", async () => {
    const c = await start();
    c.node("n1").knobs.failWith = { code: Code.InvalidArgument, message: "key too long" };
    const client = createDkvClient({ endpoints: c.endpoints() });
    const error = await client.put("k", "v").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServerError);
    expect((error as ServerError).code).toBe("invalid_argument");
    expect((error as Error).message).toContain("key too long");
    expect(c.node("n2").count("Set") + c.node("n3").count("Set")).toBe(0);
    expect(c.node("n1").count("Set")).toBe(1);
  });

  test("a compare-and-swap whose answer was lost is not retried: outcome unknown, applied once", async () => {
    const c = await start({ leaderId: "n1" });
    c.data.set("k", { value: new TextEncoder().encode("old"), createRevision: 1n, modRevision: 1n, version: 1n });
    c.node("n1").knobs.loseAnswerAfterApply = true;
    const client = createDkvClient({ endpoints: c.endpoints(), commandTimeoutMs: 2000 });
    const error = await client.compareAndSwap({ key: "k", expect: { value: "old" }, value: "new" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutcomeUnknownError);
    expect((error as OutcomeUnknownError).code).toBe("outcome_unknown");
    expect((error as Error).message).toContain("may or may not have been applied");
    expect(c.casApplied).toBe(1);
    expect(c.node("n2").count("CompareAndSwap") + c.node("n3").count("CompareAndSwap")).toBe(0);
  });

  test("a compare-and-swap to a hung leader is not retried elsewhere", async () => {
    const c = await start({ leaderId: "n1" });
    const client = createDkvClient({ endpoints: c.endpoints(), commandTimeoutMs: 600 });
    await client.members();
    c.node("n1").knobs.hang = true;
    await expect(client.compareAndSwap({ key: "k", expect: { absent: true }, value: "v" })).rejects.toThrow(OutcomeUnknownError);
    expect(c.node("n2").count("CompareAndSwap") + c.node("n3").count("CompareAndSwap")).toBe(0);
  });

  test("a compare-and-swap that could not even connect moves on safely", async () => {
    const c = await start({ leaderId: "n2" });
    c.node("n1").stop();
    const client = createDkvClient({ endpoints: c.endpoints(), commandTimeoutMs: 2000 });
    const result = await client.compareAndSwap({ key: "k", expect: { absent: true }, value: "v" });
    expect(result.succeeded).toBe(true);
    expect(c.casApplied).toBe(1);
  });

  test("a compare-and-swap to a leader that went away since the last call moves on safely", async () => {
    const c = await start({ leaderId: "n2" });
    const client = createDkvClient({ endpoints: c.endpoints(), commandTimeoutMs: 2000 });
    await client.put("warm", "up");
    c.node("n2").stop();
    const result = await client.compareAndSwap({ key: "k", expect: { absent: true }, value: "v" });
    expect(result.succeeded).toBe(true);
    expect(c.casApplied).toBe(1);
  });

  test("a failed comparison is an answer, not an error, and carries the current state", async () => {
    const c = await start();
    const client = createDkvClient({ endpoints: c.endpoints() });
    const { kv } = await client.put("k", "now");
    const result = await client.compareAndSwap({ key: "k", expect: { value: "before" }, value: "next" });
    expect(result.succeeded).toBe(false);
    expect(new TextDecoder().decode(result.previous?.value)).toBe("now");
    const byRevision = await client.compareAndSwap({ key: "k", expect: { modRevision: kv!.modRevision }, value: "next" });
    expect(byRevision.succeeded).toBe(true);
  });

  test("a membership change whose answer was lost is outcome-unknown too", async () => {
    const c = await start({ leaderId: "n1" });
    c.node("n1").knobs.hang = true;
    const client = createDkvClient({ endpoints: c.endpoints("n2"), commandTimeoutMs: 600 });
    await client.members();
    await expect(client.addMember("n9", "127.0.0.1:9999")).rejects.toThrow(OutcomeUnknownError);
  });
});

describe("members, status, health", () => {
  test("add, list and remove a member", async () => {
    const c = await start();
    const client = createDkvClient({ endpoints: c.endpoints() });
    await client.addMember("n4", "127.0.0.1:17099", { learner: true });
    expect((await client.members()).find((m) => m.id === "n4")).toMatchObject({ peerAddress: "127.0.0.1:17099", isLearner: true });
    await client.removeMember("n4");
    await expect(client.removeMember("n4")).rejects.toThrow('member "n4" not found');
  });

  test("status of every endpoint, including one that is down", async () => {
    const c = await start({ leaderId: "n2" });
    c.node("n3").stop();
    const client = createDkvClient({ endpoints: c.endpoints("n1"), commandTimeoutMs: 2000 });
    const rows = await client.statusAll();
    expect(rows.map((r) => r.status?.memberId ?? "down")).toEqual(["n1", "n2", "down"]);
    expect(rows[1]!.status?.isLeader).toBe(true);
    expect(rows[2]!.error).toContain("connection refused");
  });

  test("health: two of three up is healthy, one of three is not", async () => {
    const c = await start();
    const client = createDkvClient({ endpoints: c.endpoints(), commandTimeoutMs: 1000 });
    c.node("n3").stop();
    expect((await client.health()).healthy).toBe(true);
    c.node("n2").stop();
    const report = await client.health();
    expect(report.healthy).toBe(false);
    expect(report.reason).toContain("only 1 of 3");
  });
});

describe("snapshot save", () => {
  test("the file is written only when its SHA-256 matches the server's", async () => {
    const c = await start();
    const client = createDkvClient({ endpoints: c.endpoints() });
    for (let i = 0; i < 20; i++) await client.put(`key-${i}`, `value-${i}`);
    const dir = mkdtempSync(join(tmpdir(), "dkv-snap-"));
    try {
      const saved = await client.saveSnapshot(join(dir, "backup.db"));
      expect(readFileSync(join(dir, "backup.db"))).toEqual(Buffer.from(c.image()));
      expect(saved.sha256).toBe(new Bun.CryptoHasher("sha256").update(c.image()).digest("hex"));
      for (const node of c.nodes) node.knobs.corruptSnapshot = true;
      await expect(client.saveSnapshot(join(dir, "bad.db"))).rejects.toThrow(SnapshotIntegrityError);
      expect(existsSync(join(dir, "bad.db"))).toBe(false);
      expect(existsSync(join(dir, "bad.db.part"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a full disk is a local error at once, not a backup reported saved nor a failover to the next member", async () => {
    const c = await start();
    const client = createDkvClient({ endpoints: c.endpoints() });
    for (let i = 0; i < 20; i++) await client.put(`key-${i}`, `value-${i}`);
    const dir = mkdtempSync(join(tmpdir(), "dkv-snap-"));
    try {
      // The ".part" file the backup is written to leads to /dev/full: every write fails with ENOSPC.
      symlinkSync("/dev/full", join(dir, "full.db.part"));
      const failure = await client.saveSnapshot(join(dir, "full.db")).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(LocalFileError);
      expect((failure as Error).message).toBe(`cannot write the backup ${join(dir, "full.db")}: no space left on device (ENOSPC)`);
      expect(existsSync(join(dir, "full.db"))).toBe(false);
      expect(existsSync(join(dir, "full.db.part"))).toBe(false);
      // A directory that is not there: the same kind of error, naming the cause.
      const missing = await client.saveSnapshot(join(dir, "no-such-dir", "b.db")).catch((error: unknown) => error);
      expect((missing as Error).message).toBe(`cannot write the backup ${join(dir, "no-such-dir", "b.db")}: no such directory (ENOENT)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
