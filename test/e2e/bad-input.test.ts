// Garbage on the peer port, malformed Connect requests, oversize and empty
// keys: each gets a clear refusal, the members keep serving and nothing
// written before is lost.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { b64, call, Cluster, ConnectCallError, getKey, leaderOf, servers, setKey, waitFor, type Member } from "./cluster.ts";

let cluster: Cluster;
let leader: Member;

beforeAll(async () => {
  // The client port is served by the API worker here, so its packed and forwarded paths meet bad input in the compiled binary.
  cluster = new Cluster({ size: 3, firstHost: 20, flags: ["--api-worker", "true"] });
  await cluster.startAll();
  leader = await waitFor("three voters and a leader", 20_000, async () => {
    const l = await leaderOf(cluster);
    if (!l) return undefined;
    return (await servers(cluster.endpoint(l))).filter((s) => !s.isLearner).length === 3 ? l : undefined;
  });
  await setKey(cluster.endpoint(leader), "precious", "kept");
}, 40_000);

afterAll(async () => {
  await cluster?.stopAll();
  cluster?.cleanup();
});

/** Writes bytes to a member's peer port and resolves when the member closes the connection (or after 3 s). */
async function sendRaw(m: Member, bytes: Uint8Array): Promise<"closed" | "open"> {
  const closed = Promise.withResolvers<"closed">();
  const socket = await Bun.connect({
    hostname: m.host,
    port: m.peerPort,
    socket: { data() {}, close: () => closed.resolve("closed"), error: () => closed.resolve("closed") },
  });
  socket.write(bytes);
  const outcome = await Promise.race([closed.promise, Bun.sleep(3000).then(() => "open" as const)]);
  socket.end();
  return outcome;
}

async function term(m: Member): Promise<number> {
  return Number((await call<{ raftTerm?: string }>(cluster.endpoint(m), "dkv.v1.MaintenanceAPI/Status", {})).raftTerm);
}

async function expectCode(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectCallError);
  expect((error as ConnectCallError).code).toBe(code);
  expect((error as ConnectCallError).message).toMatch(message);
}

describe("garbage on the peer port", () => {
  test("random bytes and an oversized frame are refused; the cluster keeps its leader and term", async () => {
    const before = await term(leader);
    let seed = 42;
    const random = new Uint8Array(4096).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) & 0xff);
    for (const m of cluster.members) {
      expect(await sendRaw(m, random)).toBe("closed");
      expect(await sendRaw(m, new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]))).toBe("closed");
    }
    expect(await term(leader)).toBe(before);
    expect((await leaderOf(cluster))?.name).toBe(leader.name);
    await setKey(cluster.endpoint(leader), "after-garbage", "ok");
    for (const m of cluster.members) expect(await getKey(cluster.endpoint(m), "after-garbage")).toBe("ok");
  }, 30_000);
});

describe("bad client requests", () => {
  test("an empty key is invalid_argument", async () => {
    await expectCode(call(cluster.endpoint(leader), "dkv.v1.DkvAPI/Set", { key: "", value: b64("v") }), "invalid_argument", /key must not be empty/);
    await expectCode(call(cluster.endpoint(leader), "dkv.v1.DkvAPI/Get", { key: "" }), "invalid_argument", /key must not be empty/);
  });

  test("an oversize key or value is refused with the limit named", async () => {
    await expectCode(call(cluster.endpoint(leader), "dkv.v1.DkvAPI/Set", { key: "k".repeat(5000), value: b64("v") }), "invalid_argument", /limit is 4096 bytes/);
    // Just over the 1.5 MiB request limit: the node names its limit.
    const justOver = Buffer.alloc(1.5 * 1024 * 1024 + 1024, 1).toString("base64");
    await expectCode(call(cluster.endpoint(leader), "dkv.v1.DkvAPI/Set", { key: "big", value: justOver }), "invalid_argument", /value is \d+ bytes; the limit is \d+ bytes/);
    // Far over: refused at the HTTP layer before the body is decoded, also naming the limit.
    const huge = Buffer.alloc(4 * 1024 * 1024, 1).toString("base64");
    await expectCode(call(cluster.endpoint(leader), "dkv.v1.DkvAPI/Set", { key: "big", value: huge }), "resource_exhausted", /larger than configured readMaxBytes \d+/);
    expect(await getKey(cluster.endpoint(leader), "big")).toBeUndefined();
  });

  test("malformed bodies: garbage protobuf and broken JSON are invalid_argument", async () => {
    const garbage = await fetch(`${cluster.endpoint(leader)}/dkv.v1.DkvAPI/Set`, {
      method: "POST",
      headers: { "content-type": "application/proto", "connect-protocol-version": "1" },
      body: new Uint8Array([0xff, 0xff, 0xff, 0x0f, 0x01]),
    });
    expect(garbage.status).toBe(400);
    expect(((await garbage.json()) as { code: string }).code).toBe("invalid_argument");
    const broken = await fetch(`${cluster.endpoint(leader)}/dkv.v1.DkvAPI/Set`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"key": "a", "value": ',
    });
    expect(broken.status).toBe(400);
    expect(((await broken.json()) as { code: string }).code).toBe("invalid_argument");
    const unknown = await fetch(`${cluster.endpoint(leader)}/dkv.v1.DkvAPI/Frobnicate`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(unknown.status).toBe(404);
  });

  test("after all of it, every member still serves and the earlier write is intact", async () => {
    for (const m of cluster.members) expect(await getKey(cluster.endpoint(m), "precious")).toBe("kept");
  });
});
