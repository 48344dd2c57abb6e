// Txn over every wire: compares, the branch that ran, each op's result, and
// the refusals for a malformed transaction.
import { afterEach, expect, test } from "bun:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { Compare_Target, TxnCompare_Result } from "../../src/gen/dkv/v1/kv_pb.js";
import { ServerPool, WIRES, bytes, clientsFor, decoder } from "./harness.js";

const pool = new ServerPool();
afterEach(() => pool.stopAll());

const codeOf = (promise: Promise<unknown>) => promise.then(() => "ok", (error: unknown) => (error instanceof ConnectError ? Code[error.code] : String(error)));

for (const wire of WIRES) {
  test(`${wire}: success and failure branches with put, delete and get results`, async () => {
    const { api } = await pool.start();
    const { dkv } = clientsFor(wire, api.url);
    await dkv.set({ key: "cfg/a", value: bytes("1") });
    await dkv.set({ key: "cfg/b", value: bytes("1") });
    const ok = await dkv.txn({
      compare: [{ key: "cfg/a", target: Compare_Target.VALUE, result: TxnCompare_Result.EQUAL, value: bytes("1") }],
      success: [
        { op: { case: "put", value: { key: "cfg/a", value: bytes("2") } } },
        { op: { case: "delete", value: { key: "cfg/b" } } },
        { op: { case: "get", value: { key: "cfg/a" } } },
      ],
    });
    expect(ok.succeeded).toBe(true);
    expect(ok.results.map((r) => r.result.case)).toEqual(["put", "delete", "get"]);
    const [put, del, get] = ok.results.map((r) => r.result);
    expect(put?.case === "put" && put.value.kv?.key).toBe("cfg/a");
    expect(del?.case === "delete" && del.value.deletedCount).toBe(1n);
    expect(get?.case === "get" && decoder.decode(get.value.value)).toBe("2");

    const failed = await dkv.txn({
      compare: [{ key: "cfg/a", target: Compare_Target.VERSION, result: TxnCompare_Result.LESS, number: 2n }],
      success: [{ op: { case: "put", value: { key: "never", value: bytes("x") } } }],
      failure: [{ op: { case: "get", value: { key: "never" } } }],
    });
    expect(failed.succeeded).toBe(false);
    expect(failed.results[0]?.result.case === "get" && failed.results[0].result.value.found).toBe(false);

    const listed = await dkv.txn({
      success: [
        { op: { case: "list", value: { prefix: "cfg/" } } },
        { op: { case: "list", value: { key: "a", rangeEnd: "z", countOnly: true } } },
      ],
    });
    const [byPrefix, count] = listed.results.map((r) => (r.result.case === "list" ? r.result.value : undefined));
    expect(byPrefix?.kvs.map((kv) => `${kv.key}=${decoder.decode(kv.value)}`)).toEqual(["cfg/a=2"]);
    expect(count?.count).toBe(1n);
    expect(await codeOf(dkv.txn({ success: [{ op: { case: "list", value: { key: "b", rangeEnd: "a" } } }] }))).toBe("InvalidArgument");
    expect(await codeOf(dkv.txn({ success: [{ op: { case: "list", value: { key: "b" } } }] }))).toBe("InvalidArgument");

    expect(await codeOf(dkv.txn({ success: [{ op: { case: undefined } }] }))).toBe("InvalidArgument");
    expect(await codeOf(dkv.txn({ success: [{ op: { case: "put", value: { key: "", value: bytes("x") } } }] }))).toBe("InvalidArgument");
    expect(await codeOf(dkv.txn({ compare: [{ key: "k", target: 9 as Compare_Target }] }))).toBe("InvalidArgument");
    expect(await codeOf(dkv.txn({ compare: [{ key: "k", result: 7 as TxnCompare_Result }] }))).toBe("InvalidArgument");
  });
}

test("the API worker serves the new unary methods too (Txn, LeaseGrant, Delete with a prefix, MoveLeader)", async () => {
  const { api, node } = await pool.start({ apiWorker: true });
  const { dkv, maintenance } = clientsFor("connect-binary", api.url);
  await dkv.set({ key: "w/a", value: bytes("1") });
  const txn = await dkv.txn({ success: [{ op: { case: "get", value: { key: "w/a" } } }] });
  expect(txn.succeeded).toBe(true);
  expect(txn.results[0]?.result.case === "get" && decoder.decode(txn.results[0].result.value.value)).toBe("1");
  expect((await dkv.leaseGrant({ ttlSeconds: 9n })).ttlSeconds).toBe(9n);
  expect((await dkv.delete({ key: "w/", prefix: true })).deletedCount).toBe(1n);
  expect((await maintenance.moveLeader({ targetId: "n1" })).leaderId).toBe("n1");
  expect(node.data.size).toBe(0);
});
