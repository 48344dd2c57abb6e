import { describe, expect, test } from "bun:test";
import { CompareCommand_Target as T, TxnCompareCommand_Result as R } from "../../src/gen/dkv/raft/v1/command_pb";
import { changesOf } from "../../src/server/watch-hub";
import type { TxnOpOutcome } from "../../src/storage";
import { cleanUpAfterEachTest, CommittedNode, dumpKv, leaseGrantData, putData, tempDir, text, txnData } from "./helpers";

cleanUpAfterEachTest();

const values = (node: CommittedNode) => Object.fromEntries(node.storage.kv.range({ start: "\u0001" }).kvs.map((kv) => [kv.key, text(kv.value)]));

describe("transactions", () => {
  test("every comparison holds: the success ops run in order, all writes at one revision; a get sees the writes before it", () => {
    const node = new CommittedNode(tempDir());
    node.apply(putData("a", "1"), putData("gone", "x"));
    const result = node.one(
      txnData({
        compare: [
          { key: "a", target: T.VALUE, value: "1" },
          { key: "a", target: T.VERSION, result: R.GREATER, number: 0 },
          { key: "missing", target: T.MOD_REVISION, number: 0 },
          { key: "a", target: T.CREATE_REVISION, result: R.LESS, number: 5 },
        ],
        success: [{ put: ["a", "2"] }, { get: "a" }, { delete: ["gone"] }, { put: ["b", "new"] }, { get: "gone" }],
        failure: [{ put: ["failed", "1"] }],
      }),
    );
    expect(result.kind).toBe("txn");
    if (result.kind !== "txn") return;
    expect(result.succeeded).toBe(true);
    expect(result.results.map((r) => (r.type === "delete" ? `delete ${r.deleted}` : r.type === "list" ? `list ${r.kvs.length}` : `${r.type} ${r.kv ? `${r.kv.key}=${text(r.kv.value)}@${r.kv.modRevision}` : "missing"}`))).toEqual([
      `put a=2@${result.index}`,
      `get a=2@${result.index}`,
      "delete 1",
      `put b=new@${result.index}`,
      "get missing",
    ]);
    expect(node.storage.kv.revision()).toBe(result.index);
    expect(values(node)).toEqual({ a: "2", b: "new" });
    expect(changesOf([result]).map((kv) => `${kv.version === 0 ? "delete" : "put"} ${kv.key}@${kv.modRevision}`)).toEqual([
      `put a@${result.index}`,
      `delete gone@${result.index}`,
      `put b@${result.index}`,
    ]);
  });

  test("one comparison fails: the failure ops run instead; etcd's rules for missing keys hold", () => {
    const node = new CommittedNode(tempDir());
    node.apply(putData("k", "b"));
    const cases: Array<[Parameters<typeof txnData>[0]["compare"], boolean]> = [
      [[{ key: "k", target: T.VALUE, result: R.GREATER, value: "a" }], true],
      [[{ key: "k", target: T.VALUE, result: R.LESS, value: "a" }], false],
      [[{ key: "k", target: T.VALUE, result: R.NOT_EQUAL, value: "b" }], false],
      // A value compared with a missing key never holds, whatever the result asked for.
      [[{ key: "nope", target: T.VALUE, result: R.NOT_EQUAL, value: "b" }], false],
      [[{ key: "nope", target: T.VERSION, result: R.EQUAL, number: 0 }], true],
      [[{ key: "k", target: T.LEASE, result: R.EQUAL, number: 0 }], true],
      [[{ key: "k", target: T.VERSION, number: 1 }, { key: "k", target: T.MOD_REVISION, result: R.GREATER, number: 99 }], false],
    ];
    for (const [compare, expected] of cases) {
      const result = node.one(txnData({ compare, success: [{ get: "k" }], failure: [] }));
      expect({ compare, succeeded: result.kind === "txn" && result.succeeded }).toEqual({ compare, succeeded: expected });
    }
    const failed = node.one(txnData({ compare: [{ key: "k", target: T.VALUE, value: "zzz" }], success: [{ put: ["s", "1"] }], failure: [{ put: ["f", "1"] }] }));
    expect(failed).toMatchObject({ kind: "txn", succeeded: false, results: [{ type: "put", kv: { key: "f" } }] });
    expect(values(node)).toEqual({ f: "1", k: "b" });
  });

  test("a put with a missing lease, or an op without a key, refuses the whole transaction: nothing written", () => {
    const node = new CommittedNode(tempDir());
    node.apply(leaseGrantData(4, 60));
    const before = dumpKv(node.storage);
    const revision = node.storage.kv.revision();
    expect(node.one(txnData({ success: [{ put: ["a", "1"] }, { put: ["b", "1", 5] }] }))).toMatchObject({ kind: "refused", code: "not_found" });
    expect(node.one(txnData({ success: [{ put: ["a", "1"] }, { get: "" }] }))).toMatchObject({ kind: "invalid" });
    expect(dumpKv(node.storage)).toEqual(before);
    expect(node.storage.kv.revision()).toBe(revision);
    // With the lease that exists, the key is attached; an empty transaction changes nothing.
    expect(node.one(txnData({ success: [{ put: ["a", "1", 4] }, { delete: ["", { prefix: true }] }, { put: ["c", "1", 4] }] }))).toMatchObject({ succeeded: true });
    expect(node.storage.kv.leaseKeys(4)).toEqual(["c"]);
    const empty = node.one(txnData({}));
    expect(empty).toMatchObject({ kind: "txn", succeeded: true, results: [] });
    expect(node.storage.kv.revision()).toBe(empty.index - 1);
  });

  test("a list op reads a range as the transaction left it, never dkv's own records, and counts without returning keys", () => {
    const node = new CommittedNode(tempDir());
    node.apply(leaseGrantData(9, 60), putData("app/a", "1"), putData("app/b", "2"), putData("app/c", "3"), putData("other", "x"));
    const listed = (r: TxnOpOutcome) => {
      if (r.type !== "list") throw new Error(`expected a list result, got ${r.type}`);
      return r;
    };
    const result = node.one(
      txnData({
        success: [
          { delete: ["app/b"] },
          { put: ["app/d", "4", 9] },
          { list: { key: "app/", prefix: true } },
          { list: { key: "app/", prefix: true, limit: 2, keysOnly: true } },
          { list: { key: "app/b", rangeEnd: "app/z", countOnly: true } },
          // "" as a prefix is every client key; the lease record and its attachment are not.
          { list: { key: "", prefix: true, keysOnly: true } },
          { list: { key: "\u0000", prefix: true, countOnly: true } },
        ],
      }),
    );
    expect(result).toMatchObject({ kind: "txn", succeeded: true });
    if (result.kind !== "txn") return;
    const [all, limited, counted, everything, records] = result.results.slice(2).map(listed);
    expect(all!.kvs.map((kv) => `${kv.key}=${text(kv.value)}`)).toEqual(["app/a=1", "app/c=3", "app/d=4"]);
    expect(all!.kvs[2]).toMatchObject({ modRevision: result.index, lease: 9 });
    expect(all!.more).toBe(false);
    expect(limited!.kvs.map((kv) => [kv.key, kv.value.byteLength])).toEqual([["app/a", 0], ["app/c", 0]]);
    expect(limited!.more).toBe(true);
    expect(counted).toEqual({ type: "list", kvs: [], more: false, count: 2 });
    expect(everything!.kvs.map((kv) => kv.key)).toEqual(["app/a", "app/c", "app/d", "other"]);
    expect(records!.count).toBe(0);
    // A list writes nothing: the revision is the transaction's writes' alone.
    expect(node.storage.kv.revision()).toBe(result.index);
  });

  test("a transaction's reads share one response's worth of bytes: a list past it answers more", () => {
    const node = new CommittedNode(tempDir());
    const big = "v".repeat(1024 * 1024);
    node.apply(putData("big/1", big), putData("big/2", big), putData("big/3", big), putData("big/4", big), putData("big/5", big));
    const result = node.one(txnData({ success: [{ get: "big/1" }, { list: { key: "big/", prefix: true } }, { list: { key: "big/", prefix: true, keysOnly: true } }] }));
    if (result.kind !== "txn") throw new Error(`expected a txn result, got ${result.kind}`);
    const [, values, keys] = result.results;
    // 4 MiB in all: the get took 1 MiB, so the list returns two whole values and says there is more.
    expect(values).toMatchObject({ type: "list", more: true });
    expect(values!.type === "list" && values!.kvs.map((kv) => kv.key)).toEqual(["big/1", "big/2"]);
    // What is left (a little under 1 MiB) still holds every key name.
    expect(keys!.type === "list" && keys!.kvs.length).toBe(5);
  });

  test("a list without a prefix or range_end, or with range_end not after its key, refuses the whole transaction", () => {
    const node = new CommittedNode(tempDir());
    const before = dumpKv(node.storage);
    expect(node.one(txnData({ success: [{ put: ["a", "1"] }, { list: { key: "a" } }] }))).toMatchObject({ kind: "invalid", error: "a list needs a prefix or a range_end" });
    expect(node.one(txnData({ success: [{ put: ["a", "1"] }, { list: { key: "b", rangeEnd: "a" } }] }))).toMatchObject({ kind: "invalid" });
    expect(node.one(txnData({ success: [{ list: { key: "a", prefix: true, rangeEnd: "b" } }] }))).toMatchObject({ kind: "invalid" });
    expect(dumpKv(node.storage)).toEqual(before);
  });
});
