// Delete with prefix or range_end over every wire: the count travels back as
// uint64, and bad combinations are invalid_argument before the node is asked.
import { afterEach, expect, test } from "bun:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { ServerPool, WIRES, bytes, clientsFor } from "./harness.js";

const pool = new ServerPool();
afterEach(() => pool.stopAll());

const codeOf = (promise: Promise<unknown>) => promise.then(() => "ok", (error: unknown) => (error instanceof ConnectError ? Code[error.code] : String(error)));

for (const wire of WIRES) {
  test(`${wire}: delete a prefix, a range, or nothing; refuse both at once and a backwards range`, async () => {
    const { api, node } = await pool.start();
    const { dkv } = clientsFor(wire, api.url);
    for (const key of ["a/1", "a/2", "b/1", "b/2", "c"]) await dkv.set({ key, value: bytes("v") });
    const prefix = await dkv.delete({ key: "a/", prefix: true });
    expect({ deleted: prefix.deleted, count: prefix.deletedCount }).toEqual({ deleted: true, count: 2n });
    const range = await dkv.delete({ key: "b/1", rangeEnd: "c" });
    expect(range.deletedCount).toBe(2n);
    expect([...node.data.keys()]).toEqual(["c"]);
    expect((await dkv.delete({ key: "zz/", prefix: true })).deletedCount).toBe(0n);
    expect((await dkv.delete({ key: "c" })).deletedCount).toBe(1n);
    expect(await codeOf(dkv.delete({ key: "a", prefix: true, rangeEnd: "b" }))).toBe("InvalidArgument");
    expect(await codeOf(dkv.delete({ key: "b", rangeEnd: "a" }))).toBe("InvalidArgument");
    expect(await codeOf(dkv.delete({ key: "" }))).toBe("InvalidArgument");
  });
}
