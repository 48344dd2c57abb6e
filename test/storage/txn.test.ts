import { describe, expect, test } from "bun:test";
import { CompareCommand_Target as T, TxnCompareCommand_Result as R } from "../../src/gen/dkv/raft/v1/command_pb";
import { changesOf } from "../../src/server/watch-hub";
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
    expect(result.results.map((r) => (r.type === "delete" ? `delete ${r.deleted}` : `${r.type} ${r.kv ? `${r.kv.key}=${text(r.kv.value)}@${r.kv.modRevision}` : "missing"}`))).toEqual([
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
});
