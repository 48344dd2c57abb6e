// The Watch stream over every wire the client port serves: the first message
// says the watch is in place, then puts and deletes of the watched key or
// prefix arrive in order; past start revisions replay, too-old ones and bad
// requests are clear errors; keep-alives flow while nothing changes; a client
// that goes away leaves no watcher behind. Runs on the raft thread and in the
// API worker.
import { afterEach, describe, expect, test } from "bun:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { Event_Type, type WatchResponse } from "../../src/gen/dkv/v1/kv_pb.js";
import { ServerPool, WIRES, bytes, clientsFor, decoder } from "./harness.js";

const pool = new ServerPool();
afterEach(() => pool.stopAll());

const describeEvents = (response: WatchResponse) =>
  response.events.map((e) => `${e.type === Event_Type.PUT ? "put" : "delete"} ${e.kv?.key}=${decoder.decode(e.kv?.value)}@${e.kv?.modRevision}`);

/** Reads responses until `count` events arrived (keep-alives skipped). */
async function collectEvents(stream: AsyncIterator<WatchResponse>, count: number): Promise<string[]> {
  const seen: string[] = [];
  while (seen.length < count) {
    const next = await stream.next();
    if (next.done) throw new Error(`the stream ended after ${seen.length} events`);
    seen.push(...describeEvents(next.value));
  }
  return seen;
}

for (const wire of WIRES) {
  test(`${wire}: the first message has no events; then the prefix's puts and deletes, in order`, async () => {
    const { api } = await pool.start();
    const { dkv } = clientsFor(wire, api.url);
    await dkv.set({ key: "app/before", value: bytes("0") });
    const controller = new AbortController();
    const stream = dkv.watch({ key: "app/", prefix: true }, { signal: controller.signal })[Symbol.asyncIterator]();
    const first = await stream.next();
    expect(first.value?.events).toHaveLength(0);
    expect(first.value?.header?.revision).toBe(1n);
    await dkv.set({ key: "app/a", value: bytes("1") });
    await dkv.set({ key: "other", value: bytes("x") });
    await dkv.delete({ key: "app/a" });
    expect(await collectEvents(stream, 2)).toEqual(["put app/a=1@2", "delete app/a=@4"]);
    controller.abort();
  });
}

describe("Watch", () => {
  test("prev_kv: puts and deletes carry the key as it was; without it they do not", async () => {
    const { api } = await pool.start();
    const { dkv } = clientsFor("connect-json", api.url);
    await dkv.set({ key: "p", value: bytes("old") });
    const controller = new AbortController();
    const stream = dkv.watch({ key: "p", prevKv: true }, { signal: controller.signal })[Symbol.asyncIterator]();
    const plain = dkv.watch({ key: "p" }, { signal: controller.signal })[Symbol.asyncIterator]();
    await stream.next();
    await plain.next();
    await dkv.set({ key: "p", value: bytes("new") });
    await dkv.delete({ key: "p" });
    const events: WatchResponse["events"] = [];
    while (events.length < 2) events.push(...((await stream.next()).value as WatchResponse).events);
    expect(events.map((e) => `${e.type === Event_Type.PUT ? "put" : "delete"} was ${decoder.decode(e.prevKv?.value)}@${e.prevKv?.modRevision}`)).toEqual(["put was old@1", "delete was new@2"]);
    const plainEvents = ((await plain.next()).value as WatchResponse).events;
    expect(plainEvents.length).toBeGreaterThan(0);
    expect(plainEvents.every((e) => e.prevKv === undefined)).toBe(true);
    controller.abort();
  });

  for (const apiWorker of [false, true]) {
    test(`a start revision in the past replays from there${apiWorker ? " (API worker)" : ""}`, async () => {
      const { api } = await pool.start({ apiWorker });
      const { dkv } = clientsFor("connect-binary", api.url);
      for (const text of ["a", "b", "c"]) await dkv.set({ key: "k", value: bytes(text) });
      const controller = new AbortController();
      const stream = dkv.watch({ key: "k", startRevision: 2n }, { signal: controller.signal })[Symbol.asyncIterator]();
      const first = await stream.next();
      expect(first.value?.header?.revision).toBe(1n);
      expect(await collectEvents(stream, 2)).toEqual(["put k=b@2", "put k=c@3"]);
      controller.abort();
    });
  }

  test("a start revision older than the history is failed_precondition, saying where it starts", async () => {
    const { api, node } = await pool.start();
    const { dkv } = clientsFor("connect-json", api.url);
    await dkv.set({ key: "k", value: bytes("a") });
    node.watches.reset(5, "test"); // as after a snapshot: history from revision 5
    const attempt = (async () => {
      for await (const _ of dkv.watch({ key: "k", startRevision: 2n })) return "answered";
      return "ended";
    })();
    const error = await attempt.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((error as ConnectError).rawMessage).toContain("starts at revision 5");
  });

  test("range_end watches [key, range_end); no_delete leaves deletes out; range_end with prefix is invalid_argument", async () => {
    const { api } = await pool.start();
    const { dkv } = clientsFor("connect-binary", api.url);
    const controller = new AbortController();
    const stream = dkv.watch({ key: "b", rangeEnd: "d", noDelete: true }, { signal: controller.signal })[Symbol.asyncIterator]();
    await stream.next();
    for (const key of ["a", "b", "c", "d"]) await dkv.set({ key, value: bytes("1") });
    await dkv.delete({ key: "b" });
    await dkv.set({ key: "c", value: bytes("2") });
    expect(await collectEvents(stream, 3)).toEqual(["put b=1@2", "put c=1@3", "put c=2@6"]);
    controller.abort();
    const error = await (async () => {
      for await (const _ of dkv.watch({ key: "b", prefix: true, rangeEnd: "d" })) return "answered";
    })().catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
  });

  test("an empty key without prefix is invalid_argument", async () => {
    const { api } = await pool.start();
    const { dkv } = clientsFor("connect-binary", api.url);
    const error = await (async () => {
      for await (const _ of dkv.watch({ key: "" })) return "answered";
    })().catch((e: unknown) => e);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
  });

  test("while nothing changes, messages without events keep the stream alive", async () => {
    const { api, node } = await pool.start();
    node.watchKeepaliveMs = 50;
    const { dkv } = clientsFor("connect-binary", api.url);
    const controller = new AbortController();
    const stream = dkv.watch({ key: "quiet" }, { signal: controller.signal })[Symbol.asyncIterator]();
    await stream.next();
    const keepalive = await stream.next();
    expect(keepalive.done).toBe(false);
    expect(keepalive.value?.events).toHaveLength(0);
    controller.abort();
  });

  test("a client that goes away leaves no watcher behind", async () => {
    const { api, node } = await pool.start();
    const { dkv } = clientsFor("connect-binary", api.url);
    const controller = new AbortController();
    const stream = dkv.watch({ key: "k" }, { signal: controller.signal })[Symbol.asyncIterator]();
    await stream.next();
    expect(node.watches.watching).toBe(1);
    controller.abort();
    const start = performance.now();
    while (node.watches.watching > 0 && performance.now() - start < 5000) await Bun.sleep(10);
    expect(node.watches.watching).toBe(0);
  });
});
