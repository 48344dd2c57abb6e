import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { CACHE_MAX_BYTES, FLUSH_MAX_KEYS } from "../../src/storage/kv-store";
import { CompareCommand_Target } from "../../src/gen/dkv/raft/v1/command_pb";
import { type ApplyResult, type Storage, openStorage, prefixEnd } from "../../src/storage";
import { bytes, casData, cleanUpAfterEachTest, deleteData, dumpKv, entry, putData, tempDir, text, track } from "./helpers";

cleanUpAfterEachTest();

/** A storage whose log already holds (and has committed) whatever we apply. */
class Node {
  readonly storage: Storage;
  private next = 1;
  constructor(dir: string) {
    this.storage = track(openStorage(dir));
    this.next = this.storage.kv.appliedIndex() + 1;
  }
  /** The next index apply() uses (after entries applied by hand). */
  skipTo(next: number): void {
    this.next = next;
  }
  apply(...datas: Uint8Array[]): ApplyResult[] {
    const entries = datas.map((data) => entry(this.next++, 1, data));
    this.storage.persistReady({ entries, hardState: { term: 1, vote: "", commit: this.next - 1 }, snapshotChunks: [] });
    return this.storage.applyCommitted(entries);
  }
}

describe("kv store", () => {
  test("put records etcd-style metadata: revision = raft index, version counts writes", () => {
    const node = new Node(tempDir());
    const [first] = node.apply(putData("a", "1", "client-7", 42n));
    expect(first).toEqual({
      index: 1,
      clientId: "client-7",
      requestId: 42n,
      kind: "put",
      kv: { key: "a", value: bytes("1"), createRevision: 1, modRevision: 1, version: 1 },
    });
    node.apply(putData("b", "x"), putData("a", "2"));
    const a = node.storage.kv.get("a")!;
    expect({ ...a, value: text(a.value) }).toEqual({ key: "a", value: "2", createRevision: 1, modRevision: 3, version: 2 });
    expect(node.storage.kv.revision()).toBe(3);
    expect(node.storage.kv.appliedIndex()).toBe(3);
    expect(node.storage.kv.get("missing")).toBeUndefined();
  });

  test("delete ends a key's life: the next put starts again at version 1", () => {
    const node = new Node(tempDir());
    node.apply(putData("a", "1"), putData("a", "2"));
    const [deleted, again] = node.apply(deleteData("a"), deleteData("a"));
    expect(deleted).toMatchObject({ kind: "delete", deleted: true, index: 3 });
    expect(again).toMatchObject({ kind: "delete", deleted: false, index: 4 });
    expect(node.storage.kv.revision()).toBe(3);
    node.apply(putData("a", "3"));
    expect(node.storage.kv.get("a")).toMatchObject({ createRevision: 5, modRevision: 5, version: 1 });
  });

  test("compare-and-swap compares value, version, mod_revision and create_revision", () => {
    const node = new Node(tempDir());
    node.apply(putData("k", "v1"), putData("k", "v2")); // create 1, mod 2, version 2
    const cas = (target: CompareCommand_Target, compare: { value?: string; number?: number }, value: string) =>
      node.apply(casData({ compareKey: "k", target, compareValue: compare.value, compareNumber: compare.number, key: "k", value }))[0]!;

    expect(cas(CompareCommand_Target.VALUE, { value: "v1" }, "no")).toMatchObject({ kind: "compareAndSwap", succeeded: false });
    const byValue = cas(CompareCommand_Target.VALUE, { value: "v2" }, "v3");
    expect(byValue).toMatchObject({ kind: "compareAndSwap", succeeded: true, previous: { version: 2, modRevision: 2 }, kv: { version: 3, modRevision: 4 } });
    expect(cas(CompareCommand_Target.VERSION, { number: 2 }, "no")).toMatchObject({ succeeded: false });
    expect(cas(CompareCommand_Target.VERSION, { number: 3 }, "v4")).toMatchObject({ succeeded: true });
    expect(cas(CompareCommand_Target.MOD_REVISION, { number: 4 }, "no")).toMatchObject({ succeeded: false });
    expect(cas(CompareCommand_Target.MOD_REVISION, { number: 6 }, "v5")).toMatchObject({ succeeded: true });
    expect(cas(CompareCommand_Target.CREATE_REVISION, { number: 2 }, "no")).toMatchObject({ succeeded: false });
    expect(cas(CompareCommand_Target.CREATE_REVISION, { number: 1 }, "v6")).toMatchObject({ succeeded: true });
    expect(text(node.storage.kv.get("k")!.value)).toBe("v6");
    expect(node.storage.kv.get("k")!.version).toBe(6);
  });

  test("a missing key compares as version/revisions 0 and never equal to any value", () => {
    const node = new Node(tempDir());
    const [byEmptyValue] = node.apply(casData({ compareKey: "new", target: CompareCommand_Target.VALUE, compareValue: "", key: "new", value: "x" }));
    expect(byEmptyValue).toMatchObject({ succeeded: false });
    expect(byEmptyValue).not.toHaveProperty("previous");
    const [createIfAbsent] = node.apply(casData({ compareKey: "new", target: CompareCommand_Target.VERSION, compareNumber: 0, key: "new", value: "x" }));
    expect(createIfAbsent).toMatchObject({ succeeded: true, kv: { version: 1, createRevision: 2 } });
    const [secondCreate] = node.apply(casData({ compareKey: "new", target: CompareCommand_Target.CREATE_REVISION, compareNumber: 0, key: "new", value: "y" }));
    expect(secondCreate).toMatchObject({ succeeded: false, previous: { version: 1 } });
  });

  test("compare-and-swap can delete, and can guard one key by another", () => {
    const node = new Node(tempDir());
    node.apply(putData("lock", "me"), putData("data", "old"));
    const [guarded] = node.apply(casData({ compareKey: "lock", target: CompareCommand_Target.VALUE, compareValue: "me", key: "data", value: "new" }));
    expect(guarded).toMatchObject({ succeeded: true, previous: { key: "data", version: 1 }, kv: { key: "data", version: 2 } });
    const [removed] = node.apply(casData({ compareKey: "data", target: CompareCommand_Target.VERSION, compareNumber: 2, key: "data", delete: true }));
    expect(removed).toMatchObject({ succeeded: true, previous: { key: "data" } });
    expect(node.storage.kv.get("data")).toBeUndefined();
    expect(node.storage.kv.revision()).toBe(4);
  });

  test("empty entries and conf changes only advance the applied index; membership is stored with it", () => {
    const dir = tempDir();
    const node = new Node(dir);
    const entries = [entry(1, 1), entry(2, 1, bytes("opaque conf change"), 1)];
    const confState = { voters: ["a", "b"], learners: ["c"] };
    // A whole Ready may be handed to persistReady: its confState waits for the apply step.
    const ready = { entries, hardState: { term: 1, vote: "", commit: 2 }, snapshotChunks: [], committedEntries: entries, confState };
    node.storage.persistReady(ready);
    expect(node.storage.log.initialState().confState).toEqual({ voters: [], learners: [] });
    const results = node.storage.applyCommitted(ready.committedEntries, ready.confState);
    expect(results).toEqual([
      { index: 1, kind: "noop" },
      { index: 2, kind: "noop" },
    ]);
    expect(node.storage.kv.count()).toBe(0);
    expect(node.storage.kv.revision()).toBe(0);
    node.storage.close();
    const reopened = track(openStorage(dir));
    expect(reopened.kv.appliedIndex()).toBe(2);
    expect(reopened.kv.appliedTerm()).toBe(1);
    expect(reopened.log.initialState().confState).toEqual({ voters: ["a", "b"], learners: ["c"] });
  });

  test("commands every node must refuse alike are answered as invalid and advance the index", () => {
    const node = new Node(tempDir());
    const results = node.apply(bytes("\xff\xff not protobuf"), putData("", "v"), new Uint8Array([0x50, 0x01]));
    expect(results.map((r) => r.kind)).toEqual(["invalid", "invalid", "invalid"]);
    expect(node.storage.kv.appliedIndex()).toBe(3);
    expect(node.storage.kv.count()).toBe(0);
  });

  test("entries must be applied in order, without gaps or repeats", () => {
    const node = new Node(tempDir());
    node.apply(putData("a", "1"));
    expect(() => node.storage.applyCommitted([entry(1, 1, putData("a", "again"))])).toThrow(/apply out of order/);
    expect(() => node.storage.applyCommitted([entry(3, 1, putData("a", "gap"))])).toThrow(/apply out of order/);
    expect(text(node.storage.kv.get("a")!.value)).toBe("1");
  });

  test("a flush is one transaction: a failure midway writes none of it, and the next flush writes it all", () => {
    const dir = tempDir();
    const node = new Node(dir);
    node.apply(putData("a", "1"));
    node.storage.kv.flush();
    const entries = [entry(2, 1, putData("a", "2")), entry(3, 1, putData("b", "1")), entry(4, 1, deleteData("a"))];
    node.storage.persistReady({ entries, hardState: { term: 1, vote: "", commit: 4 }, snapshotChunks: [] });
    node.storage.applyCommitted(entries);
    const kv = node.storage.kv as unknown as { writeRow: { run: (...args: unknown[]) => unknown } };
    const real = kv.writeRow;
    kv.writeRow = { run: () => { throw new Error("disk full (injected)"); } };
    expect(() => node.storage.kv.flush()).toThrow(/disk full/);
    kv.writeRow = real;
    // Nothing of the failed flush is in the table, and nothing applied was lost from view.
    expect(node.storage.kv.flushedIndex()).toBe(1);
    expect(node.storage.kv.appliedIndex()).toBe(4);
    expect(node.storage.kv.get("a")).toBeUndefined();
    expect(text(node.storage.kv.get("b")!.value)).toBe("1");
    node.storage.kv.flush();
    expect(node.storage.kv.flushedIndex()).toBe(4);
    node.storage.close();
    const reopened = track(openStorage(dir));
    expect(reopened.kv.appliedIndex()).toBe(4);
    expect(reopened.kv.get("a")).toBeUndefined();
    expect(text(reopened.kv.get("b")!.value)).toBe("1");
    expect(reopened.kv.revision()).toBe(4);
  });

  test("applied writes are seen at once and reach the table in batches; a restart without a flush starts from the table's index", () => {
    const dir = tempDir();
    const node = new Node(dir);
    node.apply(putData("a", "1"), putData("b", "1"));
    // Persist first (an fsync), then apply right after a flush: well inside FLUSH_INTERVAL_MS.
    const entries = [entry(3, 1, putData("a", "2")), entry(4, 1, deleteData("b")), entry(5, 1, putData("b", "3"))];
    node.storage.persistReady({ entries, hardState: { term: 1, vote: "", commit: 5 }, snapshotChunks: [] });
    node.storage.kv.flush();
    node.storage.applyCommitted(entries);
    const kv = node.storage.kv;
    expect(kv.appliedIndex()).toBe(5);
    expect(kv.flushedIndex()).toBe(2);
    expect(kv.get("a")).toMatchObject({ modRevision: 3, createRevision: 1, version: 2 });
    // The delete ended b's life: the put after it starts a new one.
    expect(kv.get("b")).toMatchObject({ modRevision: 5, createRevision: 5, version: 1 });
    // A crash now (no flush): the table is as of index 2, whole.
    const raw = new Database(join(dir, "dkv.db"), { readonly: true });
    try {
      expect((raw.query("SELECT applied_index FROM applied_state").get() as { applied_index: number }).applied_index).toBe(2);
      const rows = raw.query("SELECT key, version FROM kv ORDER BY key").all() as { key: Uint8Array; version: number }[];
      expect(rows.map((r) => [text(r.key), r.version])).toEqual([["a", 1], ["b", 1]]);
    } finally {
      raw.close();
    }
  });

  test("a flush happens by itself once FLUSH_MAX_KEYS keys wait, and ranges and counts see waiting writes", () => {
    const node = new Node(tempDir());
    node.apply(putData("x", "1"));
    node.storage.kv.flush();
    // Persist first (an fsync), then apply right after a flush: well inside FLUSH_INTERVAL_MS.
    const entries = Array.from({ length: FLUSH_MAX_KEYS - 1 }, (_, i) => entry(2 + i, 1, putData(`k${i}`, "v")));
    node.storage.persistReady({ entries, hardState: { term: 1, vote: "", commit: FLUSH_MAX_KEYS }, snapshotChunks: [] });
    node.storage.kv.flush();
    node.storage.applyCommitted(entries);
    node.skipTo(FLUSH_MAX_KEYS + 1);
    expect(node.storage.kv.flushedIndex()).toBe(1);
    node.apply(putData("one-more", "v"));
    expect(node.storage.kv.flushedIndex()).toBe(node.storage.kv.appliedIndex());
    node.apply(deleteData("x"), putData("y", "2"));
    expect(node.storage.kv.count()).toBe(FLUSH_MAX_KEYS + 1);
    expect(node.storage.kv.range({ prefix: "y" }).kvs.map((kv) => kv.key)).toEqual(["y"]);
    expect(node.storage.kv.range({ prefix: "x" }).kvs).toEqual([]);
  });

  test("keys kept in memory stay within CACHE_MAX_BYTES: the oldest clean ones go, and reads still find them in the table", () => {
    const node = new Node(tempDir());
    const big = (i: number) => "v".repeat(512 * 1024) + String(i);
    const count = Math.ceil((CACHE_MAX_BYTES * 1.5) / (512 * 1024));
    for (let i = 0; i < count; i++) node.apply(putData(`big${i}`, big(i)));
    node.storage.kv.flush();
    const cacheBytes = (node.storage.kv as unknown as { cacheBytes: number }).cacheBytes;
    expect(cacheBytes).toBeLessThanOrEqual(CACHE_MAX_BYTES);
    expect(cacheBytes).toBeGreaterThan(0);
    for (const i of [0, Math.floor(count / 2), count - 1]) expect(text(node.storage.kv.get(`big${i}`)!.value)).toBe(big(i));
  });

  test("range scans by prefix and by [start, end), with limit, more and keys-only", () => {
    const node = new Node(tempDir());
    node.apply(...["a", "app/1", "app/2", "app/3", "apq", "b", "\u00e9", "z"].map((k) => putData(k, `v-${k}`)));
    const keys = (r: { kvs: { key: string }[] }) => r.kvs.map((kv) => kv.key);
    expect(keys(node.storage.kv.range({ prefix: "app/" }))).toEqual(["app/1", "app/2", "app/3"]);
    expect(keys(node.storage.kv.range({ prefix: "" }))).toEqual(["a", "app/1", "app/2", "app/3", "apq", "b", "z", "\u00e9"]);
    expect(keys(node.storage.kv.range({ start: "app/2", end: "b" }))).toEqual(["app/2", "app/3", "apq"]);
    expect(keys(node.storage.kv.range({ start: "b" }))).toEqual(["b", "z", "\u00e9"]);
    const page = node.storage.kv.range({ prefix: "app/", limit: 2 });
    expect(keys(page)).toEqual(["app/1", "app/2"]);
    expect(page.more).toBe(true);
    expect(node.storage.kv.range({ prefix: "app/", limit: 3 }).more).toBe(false);
    const keysOnly = node.storage.kv.range({ prefix: "app/", keysOnly: true });
    expect(keysOnly.kvs[0]).toEqual({ key: "app/1", value: new Uint8Array(0), createRevision: 2, modRevision: 2, version: 1 });
    expect(text(node.storage.kv.range({ prefix: "app/" }).kvs[1]!.value)).toBe("v-app/2");
  });

  test("a prefix ending in the highest code point still finds its keys", () => {
    const node = new Node(tempDir());
    const top = "\u{10FFFF}";
    node.apply(putData(`x${top}`, "1"), putData(`x${top}${top}`, "2"), putData("y", "3"));
    expect(node.storage.kv.range({ prefix: `x${top}` }).kvs.map((kv) => kv.key)).toEqual([`x${top}`, `x${top}${top}`]);
    expect(prefixEnd(new Uint8Array([0x61, 0xff, 0xff]))).toEqual(new Uint8Array([0x62]));
    expect(prefixEnd(new Uint8Array([0xff]))).toBeUndefined();
  });

  test("applied index and content survive a reopen", () => {
    const dir = tempDir();
    const node = new Node(dir);
    node.apply(putData("a", "1"), putData("b", "2"), deleteData("a"), putData("c", new Uint8Array([0, 255, 7])));
    const before = dumpKv(node.storage);
    node.storage.close();
    const reopened = track(openStorage(dir));
    expect(reopened.kv.appliedIndex()).toBe(4);
    expect(reopened.kv.revision()).toBe(4);
    expect(dumpKv(reopened)).toEqual(before);
  });

  test("persist commits at synchronous=FULL, flushes of applied writes at NORMAL, switching back and forth", () => {
    const storage = track(openStorage(tempDir()));
    const transactions = (storage as unknown as { transactions: { syncInEffect(): string } }).transactions;
    for (let index = 1; index <= 3; index++) {
      const entries = [entry(index, 1, putData("a", String(index)))];
      storage.persistReady({ entries, hardState: { term: 1, vote: "", commit: index }, snapshotChunks: [] });
      expect(transactions.syncInEffect()).toBe("full");
      storage.applyCommitted(entries);
      storage.kv.flush();
      expect(transactions.syncInEffect()).toBe("normal");
    }
  });

  test("with applySync full every apply is fsynced too (same results)", () => {
    const storage = track(openStorage(tempDir(), { applySync: "full" }));
    const entries = [entry(1, 1, putData("a", "1"))];
    storage.persistReady({ entries, hardState: { term: 1, vote: "", commit: 1 }, snapshotChunks: [] });
    expect(storage.applyCommitted(entries)[0]).toMatchObject({ kind: "put" });
  });
});
