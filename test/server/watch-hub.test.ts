// WatchHub: which applied changes reach which watcher, watches that start in
// the past (and too far in the past), the bounded history, slow watchers, and
// a state replaced by a snapshot.
import { describe, expect, test } from "bun:test";
import { NodeError } from "../../src/server/contract.ts";
import type { WatchEvent } from "../../src/server/contract.ts";
import { WatchHub, changesOf } from "../../src/server/watch-hub.ts";
import type { ApplyResult, KeyValue } from "../../src/storage/index.ts";
import { cleanUpAfterEachTest, CommittedNode, deleteData, deleteRangeData, leaseGrantData, leasePutData, leaseRevokeData, putData, tempDir, txnData } from "../storage/helpers.ts";

cleanUpAfterEachTest();

const value = (text: string) => new TextEncoder().encode(text);
const base = { clientId: "", requestId: 0n };

function put(index: number, key: string, text = `v${index}`, version = 1): ApplyResult {
  const kv: KeyValue = { key, value: value(text), createRevision: index, modRevision: index, version, lease: 0 };
  return { ...base, index, kind: "put", kv };
}
function del(index: number, key: string, deleted = true): ApplyResult {
  return { ...base, index, kind: "delete", key, deleted };
}
const summary = (events: WatchEvent[]) => events.map((e) => `${e.type} ${e.kv.key}@${e.kv.modRevision}`);

describe("changes of applied results", () => {
  test("puts, deletes of present keys and successful compare-and-swaps change something; the rest, and member records, do not", () => {
    const previous: KeyValue = { key: "c", value: value("x"), createRevision: 1, modRevision: 1, version: 1, lease: 0 };
    const changes = changesOf([
      put(2, "a"),
      del(3, "b", false),
      del(4, "b"),
      { ...base, index: 5, kind: "compareAndSwap", succeeded: false, previous },
      { ...base, index: 6, kind: "compareAndSwap", succeeded: true, previous },
      { index: 7, kind: "noop" },
      { ...base, index: 8, kind: "invalid", error: "no" },
      put(9, "\u0000dkv/member/n1"),
    ]);
    expect(changes.map((c) => `${c.key}@${c.modRevision} v${c.version}`)).toEqual(["a@2 v1", "b@4 v0", "c@6 v0"]);
  });
});

describe("WatchHub", () => {
  test("a watcher gets the changes of its key, or of its prefix, in revision order", async () => {
    const hub = new WatchHub(1);
    const one = hub.watch({ key: "app/a", prefix: false }, 0, 0);
    const all = hub.watch({ key: "app/", prefix: true }, 0, 0);
    hub.publish([put(1, "app/a"), put(2, "other"), put(3, "app/b")]);
    hub.publish([del(4, "app/a")]);
    expect(summary(await one.next(1000))).toEqual(["put app/a@1", "delete app/a@4"]);
    expect(summary(await all.next(1000))).toEqual(["put app/a@1", "put app/b@3", "delete app/a@4"]);
    expect(hub.watching).toBe(2);
    one.close();
    all.close();
    expect(hub.watching).toBe(0);
  });

  test("a watcher of a range gets the keys in [key, range_end) in UTF-8 order; no_put and no_delete leave out one kind", async () => {
    const hub = new WatchHub(1);
    const range = hub.watch({ key: "b", prefix: false, rangeEnd: "d" }, 0, 0);
    // U+E000 sorts below U+10000 in UTF-8 (in UTF-16 code units it would not).
    const high = hub.watch({ key: "\ue000", prefix: false, rangeEnd: "\u{10001}" }, 0, 0);
    const putsOnly = hub.watch({ key: "", prefix: true, noDelete: true }, 0, 0);
    const deletesOnly = hub.watch({ key: "", prefix: true, noPut: true }, 0, 0);
    hub.publish([put(1, "a"), put(2, "b"), put(3, "c/x"), put(4, "d"), put(5, "\u{10000}")]);
    hub.publish([del(6, "b"), del(7, "d")]);
    expect(summary(await range.next(1000))).toEqual(["put b@2", "put c/x@3", "delete b@6"]);
    expect(summary(await high.next(1000))).toEqual(["put \u{10000}@5"]);
    expect(summary(await putsOnly.next(1000))).toEqual(["put a@1", "put b@2", "put c/x@3", "put d@4", "put \u{10000}@5"]);
    expect(summary(await deletesOnly.next(1000))).toEqual(["delete b@6", "delete d@7"]);
    for (const watcher of [range, high, putsOnly, deletesOnly]) watcher.close();
  });

  test("a watch from a past revision replays the history from there, then the new changes", async () => {
    const hub = new WatchHub(1);
    hub.publish([put(1, "k"), put(2, "k", "again", 2), put(3, "x")]);
    const watcher = hub.watch({ key: "k", prefix: false }, 2, 3);
    expect(summary(await watcher.next(1000))).toEqual(["put k@2"]);
    hub.publish([put(4, "k", "third", 3)]);
    expect(summary(await watcher.next(1000))).toEqual(["put k@4"]);
  });

  test("start revision 0 means after the applied revision; a future start waits for it", async () => {
    const hub = new WatchHub(1);
    hub.publish([put(1, "k")]);
    const now = hub.watch({ key: "k", prefix: false }, 0, 1);
    const later = hub.watch({ key: "k", prefix: false }, 3, 1);
    hub.publish([put(2, "k", "b", 2), put(3, "k", "c", 3)]);
    expect(summary(await now.next(1000))).toEqual(["put k@2", "put k@3"]);
    expect(summary(await later.next(1000))).toEqual(["put k@3"]);
  });

  test("the history is bounded by count and bytes; older start revisions are refused with failed_precondition", () => {
    const hub = new WatchHub(1, { historyEvents: 3, historyBytes: 1_000_000, queuedEvents: 100, queuedBytes: 1_000_000 });
    for (let i = 1; i <= 5; i++) hub.publish([put(i, "k")]);
    expect(hub.oldestRevision).toBe(3);
    expect(() => hub.watch({ key: "k", prefix: false }, 2, 5)).toThrow(NodeError);
    expect(() => hub.watch({ key: "k", prefix: false }, 2, 5)).toThrow(/starts at revision 3/);
    hub.watch({ key: "k", prefix: false }, 3, 5).close();

    const small = new WatchHub(1, { historyEvents: 100, historyBytes: 10, queuedEvents: 100, queuedBytes: 1_000_000 });
    small.publish([put(1, "k", "12345"), put(2, "k", "12345")]); // 6 bytes each: only the newest fits
    expect(small.oldestRevision).toBe(2);
  });

  test("before any change, a member's history starts at the revision after the one it started with", () => {
    const hub = new WatchHub(101);
    expect(() => hub.watch({ key: "k", prefix: false }, 100, 100)).toThrow(/older than this member's watch history/);
    hub.watch({ key: "k", prefix: false }, 0, 100).close();
  });

  test("a watcher that falls too far behind is ended with where to start again", async () => {
    const hub = new WatchHub(1, { historyEvents: 100, historyBytes: 1_000_000, queuedEvents: 2, queuedBytes: 1_000_000 });
    const slow = hub.watch({ key: "", prefix: true }, 0, 0);
    hub.publish([put(1, "a"), put(2, "b"), put(3, "c")]);
    const error = await slow.next(1000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NodeError);
    expect((error as NodeError).code).toBe("unavailable");
    expect((error as NodeError).message).toContain("watch again from revision 1");
    expect(hub.watching).toBe(0);
  });

  test("a watcher holding too many bytes of changes is ended too, even with few changes waiting", async () => {
    const hub = new WatchHub(1, { historyEvents: 100, historyBytes: 1_000_000, queuedEvents: 100, queuedBytes: 2_000 });
    const slow = hub.watch({ key: "", prefix: true }, 0, 0);
    const reader = hub.watch({ key: "", prefix: true }, 0, 0);
    hub.publish([put(1, "a", "x".repeat(900))]);
    expect((await reader.next(1000)).length).toBe(1);
    hub.publish([put(2, "b", "y".repeat(900))]);
    expect((await reader.next(1000)).length).toBe(1);
    hub.publish([put(3, "c", "z".repeat(900))]);
    // The one that reads as it goes never holds more than one change; the other now holds three, 2,703 bytes.
    expect((await reader.next(1000)).length).toBe(1);
    const error = await slow.next(1000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NodeError);
    expect((error as NodeError).message).toBe("the watch fell more than 2000 bytes of changes behind; watch again from revision 1");
    expect(hub.watching).toBe(1);
    reader.close();
  });

  test("a state replaced by a snapshot ends every watcher; the history starts after the snapshot", async () => {
    const hub = new WatchHub(1);
    hub.publish([put(1, "k")]);
    const watcher = hub.watch({ key: "k", prefix: false }, 0, 1);
    hub.reset(501, "this member installed a snapshot");
    await expect(watcher.next(1000)).rejects.toThrow("installed a snapshot");
    expect(hub.oldestRevision).toBe(501);
    expect(() => hub.watch({ key: "k", prefix: false }, 1, 500)).toThrow(NodeError);
  });

  test("next() gives [] after its wait, and returns at once when the signal fires", async () => {
    const hub = new WatchHub(1);
    const watcher = hub.watch({ key: "k", prefix: false }, 0, 0);
    const started = performance.now();
    expect(await watcher.next(20)).toEqual([]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(15);
    const controller = new AbortController();
    const waiting = watcher.next(60_000, controller.signal);
    controller.abort();
    expect(await waiting).toEqual([]);
  });
});

describe("prev_kv", () => {
  test("a watcher that asks gets each key as it was before the change, from the state machine's own results, also when replayed", async () => {
    const node = new CommittedNode(tempDir());
    const hub = new WatchHub(1);
    const withPrevious = hub.watch({ key: "", prefix: true, prevKv: true }, 0, 0);
    const without = hub.watch({ key: "", prefix: true }, 0, 0);
    const apply = (...datas: Uint8Array[]) => hub.publish(node.apply(...datas));
    apply(putData("a", "1"), putData("a", "2"), deleteData("a"), putData("b", "x"), putData("c", "y"));
    apply(leaseGrantData(3, 60), leasePutData("l", "held", 3));
    apply(txnData({ success: [{ put: ["b", "x2"] }, { delete: ["c"] }] }), deleteRangeData("b", { prefix: true }), leaseRevokeData(3));
    const describe = (events: WatchEvent[]) =>
      events.map((e) => `${e.type} ${e.kv.key}${e.prevKv ? ` (was ${new TextDecoder().decode(e.prevKv.value)}@${e.prevKv.modRevision})` : ""}`);
    const expected = [
      "put a",
      "put a (was 1@1)",
      "delete a (was 2@2)",
      "put b",
      "put c",
      "put l",
      "put b (was x@4)",
      "delete c (was y@5)",
      "delete b (was x2@8)",
      "delete l (was held@7)",
    ];
    const seen: WatchEvent[] = [];
    while (seen.length < expected.length) seen.push(...(await withPrevious.next(1000)));
    expect(describe(seen)).toEqual(expected);
    expect((await without.next(1000)).every((e) => e.prevKv === undefined)).toBe(true);
    // Replayed from the history: the same previous values.
    const replay = hub.watch({ key: "a", prefix: false, prevKv: true }, 1, node.storage.kv.appliedIndex());
    expect(describe(await replay.next(1000))).toEqual(["put a", "put a (was 1@1)", "delete a (was 2@2)"]);
  });
});
