// The lease methods over every wire the client port serves: ids and TTLs
// travel as uint64/int64 both ways, a key's lease shows on reads, and
// refusals carry the node's Connect codes.
import { afterEach, expect, test } from "bun:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { ServerPool, WIRES, bytes, clientsFor } from "./harness.js";

const pool = new ServerPool();
afterEach(() => pool.stopAll());

const codeOf = (promise: Promise<unknown>) => promise.then(() => "ok", (error: unknown) => (error instanceof ConnectError ? Code[error.code] : String(error)));

for (const wire of WIRES) {
  test(`${wire}: grant, set with the lease, read it back, keep alive, time to live, revoke`, async () => {
    const { api, node } = await pool.start();
    const { dkv } = clientsFor(wire, api.url);
    const big = 2n ** 52n + 3n;
    const granted = await dkv.leaseGrant({ ttlSeconds: 30n, id: big });
    expect(granted.id).toBe(big);
    expect(granted.ttlSeconds).toBe(30n);
    const auto = await dkv.leaseGrant({ ttlSeconds: 5n });
    expect(auto.id).toBeGreaterThan(0n);

    expect((await dkv.set({ key: "svc/a", value: bytes("1"), lease: big })).kv?.lease).toBe(big);
    expect((await dkv.get({ key: "svc/a" })).kv?.lease).toBe(big);
    expect((await dkv.leaseKeepAlive({ id: big })).ttlSeconds).toBe(30n);
    const ttl = await dkv.leaseTimeToLive({ id: big, keys: true });
    expect(ttl.grantedTtlSeconds).toBe(30n);
    expect(ttl.keys).toEqual(["svc/a"]);
    const listed = await dkv.leaseLeases({});
    expect(listed.leases.map((l) => [l.id, l.grantedTtlSeconds])).toEqual([[auto.id, 5n], [big, 30n]].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)));
    expect((await dkv.leaseRevoke({ id: big })).deletedKeys).toBe(1);
    expect(node.data.has("svc/a")).toBe(false);

    expect(await codeOf(dkv.leaseRevoke({ id: big }))).toBe("NotFound");
    expect(await codeOf(dkv.leaseKeepAlive({ id: 0n }))).toBe("InvalidArgument");
    expect(await codeOf(dkv.leaseGrant({ ttlSeconds: 0n }))).toBe("InvalidArgument");
    expect(await codeOf(dkv.leaseGrant({ ttlSeconds: 5n, id: 2n ** 60n }))).toBe("InvalidArgument");
    expect(await codeOf(dkv.set({ key: "k", value: bytes("1"), lease: 77n }))).toBe("NotFound");
  });
}
