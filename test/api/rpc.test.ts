// Every RPC through the generated clients, over Connect JSON, Connect binary
// and gRPC-Web (binary and JSON), with the lean unary path on and off: same answers everywhere.
import { afterEach, describe, expect, test } from "bun:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { Compare_Target, Consistency } from "../../src/gen/dkv/v1/kv_pb.js";
import { NodeError } from "../../src/server/contract.js";
import { ServerPool, WIRES, bytes, clientsFor, decoder } from "./harness.js";

const pool = new ServerPool();
afterEach(() => pool.stopAll());

async function codeOf(call: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await call;
  } catch (error) {
    const connectError = ConnectError.from(error);
    return { code: connectError.code, message: connectError.rawMessage };
  }
  throw new Error("expected the call to fail, but it succeeded");
}

/** Every way a call can be served: lean or stock, from the API worker or on the raft thread. */
const PATHS = [
  { leanUnary: true, apiWorker: true },
  { leanUnary: false, apiWorker: true },
  { leanUnary: true, apiWorker: false },
  { leanUnary: false, apiWorker: false },
];
const describePath = (path: (typeof PATHS)[number]): string => `${path.leanUnary ? "lean" : "stock"} unary path${path.apiWorker ? " in the API worker" : " on the raft thread"}`;

for (const path of PATHS) {
  for (const wire of WIRES) {
    describe(`${wire}, ${describePath(path)}`, () => {
      const start = async () => {
        const started = await pool.start(path);
        return { ...started, ...clientsFor(wire, started.api.url) };
      };

      test("Set then Get returns the value, revisions and the response header", async () => {
        const { dkv } = await start();
        const set = await dkv.set({ key: "greeting", value: bytes("hello") });
        expect(set.kv?.key).toBe("greeting");
        expect(set.kv?.version).toBe(1n);
        expect(set.header?.revision).toBe(1n);
        expect(set.header?.memberId).toBe("n1");
        expect(set.header?.raftTerm).toBe(7n);
        await dkv.set({ key: "greeting", value: bytes("hello again") });

        const got = await dkv.get({ key: "greeting" });
        expect(got.found).toBe(true);
        expect(decoder.decode(got.value)).toBe("hello again");
        expect(got.kv).toMatchObject({ key: "greeting", createRevision: 1n, modRevision: 2n, version: 2n });
        expect(got.header?.revision).toBe(2n);
      });

      test("Get of a missing key answers found=false with an empty value, not an error", async () => {
        const { dkv } = await start();
        const got = await dkv.get({ key: "missing" });
        expect(got.found).toBe(false);
        expect(got.value.byteLength).toBe(0);
        expect(got.kv).toBeUndefined();
        expect(got.header?.memberId).toBe("n1");
      });

      test("the consistency enum reaches the node as linearizable or serializable", async () => {
        const { dkv, node } = await start();
        await dkv.get({ key: "a" });
        await dkv.get({ key: "a", consistency: Consistency.SERIALIZABLE });
        await dkv.list({ prefix: "a", consistency: Consistency.SERIALIZABLE });
        expect(node.consistencies).toEqual(["linearizable", "serializable", "serializable"]);
      });

      test("Delete reports whether the key existed", async () => {
        const { dkv } = await start();
        await dkv.set({ key: "k", value: bytes("v") });
        expect((await dkv.delete({ key: "k" })).deleted).toBe(true);
        expect((await dkv.delete({ key: "k" })).deleted).toBe(false);
        expect((await dkv.get({ key: "k" })).found).toBe(false);
      });

      test("List by prefix and by range, with limit and keys_only", async () => {
        const { dkv } = await start();
        for (const key of ["app/a", "app/b", "app/c", "other"]) await dkv.set({ key, value: bytes(`v-${key}`) });

        const byPrefix = await dkv.list({ prefix: "app/" });
        expect(byPrefix.kvs.map((kv) => kv.key)).toEqual(["app/a", "app/b", "app/c"]);
        expect(byPrefix.more).toBe(false);
        expect(decoder.decode(byPrefix.kvs[0]!.value)).toBe("v-app/a");

        const limited = await dkv.list({ prefix: "app/", limit: 2, keysOnly: true });
        expect(limited.kvs.map((kv) => kv.key)).toEqual(["app/a", "app/b"]);
        expect(limited.kvs[0]!.value.byteLength).toBe(0);
        expect(limited.more).toBe(true);

        const byRange = await dkv.list({ key: "app/b", rangeEnd: "p" });
        expect(byRange.kvs.map((kv) => kv.key)).toEqual(["app/b", "app/c", "other"]);
        expect(byRange.header?.revision).toBe(4n);

        const counted = await dkv.list({ prefix: "app/", countOnly: true, limit: 1 });
        expect({ kvs: counted.kvs, count: counted.count }).toEqual({ kvs: [], count: 3n });
      });

      test("List refuses contradictory ranges", async () => {
        const { dkv } = await start();
        expect(await codeOf(dkv.list({ prefix: "a", key: "a", rangeEnd: "b" }))).toEqual({
          code: Code.InvalidArgument,
          message: "give either prefix, or key and range_end; not both",
        });
        expect((await codeOf(dkv.list({ key: "a" }))).code).toBe(Code.InvalidArgument);
        expect((await codeOf(dkv.list({ key: "b", rangeEnd: "a" }))).message).toBe('range_end "a" must sort after key "b"');
        // In UTF-8 byte order U+FFFF sorts before U+10000 (in UTF-16 code units it would not).
        expect((await dkv.list({ key: "\uffff", rangeEnd: "\u{10000}" })).kvs).toEqual([]);
      });

      test("CompareAndSwap on value, version and mod_revision; delete branch; previous state", async () => {
        const { dkv } = await start();
        const created = await dkv.compareAndSwap({ key: "lock", value: bytes("me"), compare: { target: Compare_Target.VERSION, number: 0n } });
        expect(created.succeeded).toBe(true);
        expect(created.previousFound).toBe(false);
        expect(created.previous).toBeUndefined();

        const lost = await dkv.compareAndSwap({ key: "lock", value: bytes("you"), compare: { target: Compare_Target.VALUE, value: bytes("nobody") } });
        expect(lost.succeeded).toBe(false);
        expect(lost.previousFound).toBe(true);
        expect(decoder.decode(lost.previous!.value)).toBe("me");

        const swapped = await dkv.compareAndSwap({ key: "lock", value: bytes("you"), compare: { target: Compare_Target.VALUE, value: bytes("me") } });
        expect(swapped.succeeded).toBe(true);
        const modRevision = (await dkv.get({ key: "lock" })).kv!.modRevision;

        const deleted = await dkv.compareAndSwap({
          key: "lock",
          delete: true,
          compare: { key: "lock", target: Compare_Target.MOD_REVISION, number: modRevision },
        });
        expect(deleted.succeeded).toBe(true);
        expect((await dkv.get({ key: "lock" })).found).toBe(false);
      });

      test("CompareAndSwap without a compare is invalid_argument", async () => {
        const { dkv } = await start();
        expect(await codeOf(dkv.compareAndSwap({ key: "k", value: bytes("v") }))).toEqual({ code: Code.InvalidArgument, message: "compare must be set" });
      });

      test("GetServers, JoinServer and LeaveServer use the seed's names", async () => {
        const { membership, node } = await start();
        await membership.joinServer({ id: "n2", address: "127.0.0.2:2380", rpcAddress: "127.0.0.2:2379", learner: true });
        const servers = (await membership.getServers({})).servers;
        expect(servers.map((server) => [server.id, server.raftAddress, server.rpcAddress, server.isLeader, server.isLearner])).toEqual([
          ["n1", "127.0.0.1:2380", "127.0.0.1:2379", true, false],
          ["n2", "127.0.0.2:2380", "127.0.0.2:2379", false, true],
        ]);
        await membership.leaveServer({ id: "n2" });
        expect(node.memberList.map((member) => member.id)).toEqual(["n1"]);
        expect(await codeOf(membership.leaveServer({ id: "n9" }))).toEqual({ code: Code.NotFound, message: "member n9 is not in the cluster" });
        expect(await codeOf(membership.joinServer({ id: "", address: "x:1" }))).toEqual({ code: Code.InvalidArgument, message: "id must not be empty" });
        expect(await codeOf(membership.joinServer({ id: "n3", address: "" }))).toEqual({ code: Code.InvalidArgument, message: "address must not be empty" });
      });

      test("Status reports the node's view", async () => {
        const { maintenance, dkv } = await start();
        await dkv.set({ key: "a", value: bytes("1") });
        const status = await maintenance.status({});
        expect(status).toMatchObject({
          memberId: "n1",
          leaderId: "n1",
          isLeader: true,
          raftTerm: 7n,
          commitIndex: 3n,
          appliedIndex: 2n,
          dbSizeBytes: 4096n,
          version: "0.1.0-test",
          clusterId: "c-test",
          isLearner: false,
        });
      });

      test("Snapshot streams the image in chunks, the last one with its SHA-256", async () => {
        const { maintenance, dkv, node } = await start();
        for (let i = 0; i < 5; i++) await dkv.set({ key: `key-${i}`, value: bytes(`value-${i}`) });
        const chunks = [];
        for await (const chunk of maintenance.snapshot({})) chunks.push(chunk);
        const image = node.image();
        expect(chunks.length).toBe(Math.ceil(image.byteLength / node.snapshotChunkBytes));
        const joined = Buffer.concat(chunks.map((chunk) => chunk.data));
        expect(joined.equals(Buffer.from(image))).toBe(true);
        expect(chunks.at(-1)!.sha256).toBe(new Bun.CryptoHasher("sha256").update(image).digest("hex"));
        expect(chunks.at(-1)!.sizeBytes).toBe(BigInt(image.byteLength));
        expect(chunks.at(-1)!.index).toBe(5n);
        expect(chunks.slice(0, -1).every((chunk) => chunk.sha256 === "")).toBe(true);
      });

      test("a Snapshot the node refuses ends the stream with the node's code and message", async () => {
        const { maintenance, node } = await start();
        node.failNext.set("snapshot", new NodeError("unavailable", "a snapshot is already being taken; retry later"));
        const consume = async () => {
          for await (const _ of maintenance.snapshot({})) {
            // drain
          }
        };
        expect(await codeOf(consume())).toEqual({ code: Code.Unavailable, message: "a snapshot is already being taken; retry later" });
      });

      test("an empty key is invalid_argument \"key must not be empty\" for Get, Set, Delete and CompareAndSwap", async () => {
        const { dkv } = await start();
        const expected = { code: Code.InvalidArgument, message: "key must not be empty" };
        expect(await codeOf(dkv.get({ key: "" }))).toEqual(expected);
        expect(await codeOf(dkv.set({ key: "", value: bytes("v") }))).toEqual(expected);
        expect(await codeOf(dkv.delete({ key: "" }))).toEqual(expected);
        expect(await codeOf(dkv.compareAndSwap({ key: "", compare: {} }))).toEqual(expected);
      });

      test("a NodeError keeps its code and message", async () => {
        const { dkv, node } = await start();
        const cases: [NodeError, Code][] = [
          [new NodeError("unavailable", "no leader: election in progress; retry"), Code.Unavailable],
          [new NodeError("failed_precondition", "node n1 is a learner"), Code.FailedPrecondition],
          [new NodeError("resource_exhausted", "value is 2000000 bytes; the limit is 1572864"), Code.ResourceExhausted],
          [new NodeError("deadline_exceeded", "proposal not committed within 5000 ms"), Code.DeadlineExceeded],
          [new NodeError("already_exists", "member n2 exists"), Code.AlreadyExists],
          [new NodeError("permission_denied", "no"), Code.PermissionDenied],
          [new NodeError("aborted", "leadership changed"), Code.Aborted],
          [new NodeError("internal", "storage failed"), Code.Internal],
          [new NodeError("not_found", "gone"), Code.NotFound],
        ];
        for (const [error, code] of cases) {
          node.failNext.set("put", error);
          expect(await codeOf(dkv.set({ key: "k", value: bytes("v") }))).toEqual({ code, message: error.message });
        }
      });

      test("any other error is internal with a generic message, and is logged", async () => {
        const { dkv, node, logs } = await start();
        node.failNext.set("get", new TypeError("cannot read properties of undefined (secret detail)"));
        const failure = await codeOf(dkv.get({ key: "k" }));
        expect(failure.code).toBe(Code.Internal);
        expect(failure.message).toBe("internal error; the server log has the details");
        expect(logs.some((line) => line.includes("dkv.v1.DkvAPI/Get") && line.includes("secret detail"))).toBe(true);
      });

      test("a deadline from the client cancels the node's wait: deadline_exceeded", async () => {
        const { dkv, node } = await start();
        node.hang.set("get", { ignoreSignal: false });
        const started = performance.now();
        const failure = await codeOf(dkv.get({ key: "k" }, { timeoutMs: 150 }));
        expect(failure.code).toBe(Code.DeadlineExceeded);
        expect(performance.now() - started).toBeLessThan(3000);
        // The client's own timer may fire a moment before the server's deadline.
        for (let i = 0; i < 100 && !node.signals.at(-1)?.aborted; i++) await Bun.sleep(10);
        expect(node.signals.at(-1)?.aborted).toBe(true);
      });

      test("a deadline is honoured even when the node ignores the signal", async () => {
        const { dkv, node } = await start();
        node.hang.set("put", { ignoreSignal: true });
        const failure = await codeOf(dkv.set({ key: "k", value: bytes("v") }, { timeoutMs: 150 }));
        expect(failure.code).toBe(Code.DeadlineExceeded);
      });

      test("the server keeps serving after errors", async () => {
        const { dkv, node } = await start();
        node.failNext.set("get", new Error("boom"));
        await codeOf(dkv.get({ key: "k" }));
        await dkv.set({ key: "k", value: bytes("v") });
        expect((await dkv.get({ key: "k" })).found).toBe(true);
      });
    });
  }
}

for (const path of PATHS) {
  describe(`cancellation, ${describePath(path)}`, () => {
    test("a client that goes away aborts the node's signal", async () => {
      const { api, node } = await pool.start(path);
      node.hang.set("get", { ignoreSignal: false });
      const client = new AbortController();
      const { dkv } = clientsFor("connect-binary", api.url);
      const call = dkv.get({ key: "k" }, { signal: client.signal }).catch((error: unknown) => error);
      for (let i = 0; i < 100 && node.signals.length === 0; i++) await Bun.sleep(10);
      client.abort();
      expect(ConnectError.from(await call).code).toBe(Code.Canceled);
      for (let i = 0; i < 100 && !node.signals[0]?.aborted; i++) await Bun.sleep(10);
      expect(node.signals[0]?.aborted).toBe(true);
    });

    test("a snapshot consumer that stops early releases the node's stream", async () => {
      const { api, node } = await pool.start(path);
      const { dkv, maintenance } = clientsFor("connect-binary", api.url);
      for (let i = 0; i < 50; i++) await dkv.set({ key: `k${i}`, value: bytes("x".repeat(100)) });
      node.snapshotChunkBytes = 64;
      const client = new AbortController();
      let received = 0;
      try {
        for await (const _ of maintenance.snapshot({}, { signal: client.signal })) {
          if (++received === 3) client.abort();
        }
      } catch (error) {
        expect(ConnectError.from(error).code).toBe(Code.Canceled);
      }
      for (let i = 0; i < 200 && !node.snapshotReturned; i++) await Bun.sleep(10);
      expect(node.snapshotReturned).toBe(true);
    });
  });
}
