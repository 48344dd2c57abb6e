import { describe, expect, test } from "bun:test";
import { openStorage } from "../../src/storage";
import { StorageInvariantError } from "../../src/storage/errors";
import { ENTRY_CACHE_MAX_ENTRIES } from "../../src/storage/log-store";
import { cleanUpAfterEachTest, entry, putEntries, tempDir, track } from "./helpers";

cleanUpAfterEachTest();

function open(dir: string) {
  return track(openStorage(dir));
}

describe("log store", () => {
  test("a fresh log is empty: first index 1, last index 0, term(0) = 0", () => {
    const storage = open(tempDir());
    expect(storage.log.firstIndex()).toBe(1);
    expect(storage.log.lastIndex()).toBe(0);
    expect(storage.log.term(0)).toBe(0);
    expect(storage.log.term(1)).toBeUndefined();
    expect(storage.log.initialState()).toEqual({ hardState: { term: 0, vote: "", commit: 0 }, confState: { voters: [], learners: [] } });
    expect(storage.log.snapshotMeta()).toEqual({ index: 0, term: 0, confState: { voters: [], learners: [] }, sizeBytes: 0 });
  });

  test("entries and hard state persisted together survive a reopen", () => {
    const dir = tempDir();
    const storage = open(dir);
    const entries = putEntries(1, 5, 2);
    storage.persistReady({ entries, hardState: { term: 2, vote: "n1", commit: 3 }, snapshotChunks: [], bootstrapConfState: { voters: ["n1"], learners: [] } });
    storage.close();

    const reopened = open(dir);
    expect(reopened.log.lastIndex()).toBe(5);
    expect(reopened.log.term(5)).toBe(2);
    expect(reopened.log.initialState()).toEqual({ hardState: { term: 2, vote: "n1", commit: 3 }, confState: { voters: ["n1"], learners: [] } });
    const read = reopened.log.entries(1, 6, Number.MAX_SAFE_INTEGER);
    expect(read.map((e) => [e.index, e.term, e.type])).toEqual(entries.map((e) => [e.index, e.term, e.type]));
    expect(read.map((e) => Array.from(e.data))).toEqual(entries.map((e) => Array.from(e.data)));
  });

  test("an entry at an existing index replaces it and everything after it", () => {
    const dir = tempDir();
    const storage = open(dir);
    storage.log.persist({ entries: putEntries(1, 6, 1), hardState: { term: 1, vote: "", commit: 2 } });
    storage.log.persist({ entries: [entry(4, 3), entry(5, 3)], hardState: { term: 3, vote: "", commit: 2 } });
    expect(storage.log.lastIndex()).toBe(5);
    expect([1, 2, 3, 4, 5, 6].map((i) => storage.log.term(i))).toEqual([1, 1, 1, 3, 3, undefined]);
    storage.close();
    const reopened = open(dir);
    expect(reopened.log.lastIndex()).toBe(5);
    expect(reopened.log.entries(1, 6, 1 << 20).map((e) => e.term)).toEqual([1, 1, 1, 3, 3]);
  });

  test("rewriting committed entries with the same terms is allowed; changing one is refused", () => {
    const storage = open(tempDir());
    storage.log.persist({ entries: putEntries(1, 4, 1), hardState: { term: 2, vote: "", commit: 3 } });
    storage.log.persist({ entries: [entry(3, 1), entry(4, 2)] });
    expect(storage.log.term(4)).toBe(2);
    expect(() => storage.log.persist({ entries: [entry(2, 2)] })).toThrow(/truncate committed entries up to 3/);
    expect(() => storage.log.persist({ entries: [entry(2, 2), entry(3, 2), entry(4, 2)] })).toThrow(/replace committed entry 2/);
    expect(storage.log.lastIndex()).toBe(4);
  });

  test("invalid batches are refused and nothing is written", () => {
    const storage = open(tempDir());
    storage.log.persist({ entries: putEntries(1, 3, 2), hardState: { term: 2, vote: "a", commit: 1 } });
    const refuse = (fn: () => void, message: RegExp) => expect(fn).toThrow(message);
    refuse(() => storage.log.persist({ entries: [entry(5, 2)] }), /gap after the last index 3/);
    refuse(() => storage.log.persist({ entries: [entry(4, 2), entry(6, 2)] }), /not contiguous/);
    refuse(() => storage.log.persist({ entries: [entry(4, 1)] }), /below the preceding entry's term 2/);
    refuse(() => storage.log.persist({ entries: [entry(4, 3), entry(5, 2)] }), /below its predecessor/);
    refuse(() => storage.log.persist({ entries: [], hardState: { term: 1, vote: "a", commit: 1 } }), /term goes backwards/);
    refuse(() => storage.log.persist({ entries: [], hardState: { term: 2, vote: "b", commit: 1 } }), /vote changes within term 2/);
    refuse(() => storage.log.persist({ entries: [], hardState: { term: 2, vote: "a", commit: 0 } }), /commit index goes backwards/);
    refuse(() => storage.log.persist({ entries: [], hardState: { term: 2, vote: "a", commit: 4 } }), /beyond the last log index 3/);
    refuse(() => storage.log.persist({ entries: [entry(4, 5)], hardState: { term: 4, vote: "", commit: 1 } }), /above the hard state's term/);
    expect(() => storage.log.persist({ entries: [entry(4, 3)] })).not.toThrow();
    expect(storage.log.lastIndex()).toBe(4);
    expect(storage.log.hardState()).toEqual({ term: 2, vote: "a", commit: 1 });
    expect(new StorageInvariantError("x").name).toBe("StorageInvariantError");
  });

  test("a new term may record a new vote; commit may cover entries of the same batch", () => {
    const storage = open(tempDir());
    storage.log.persist({ entries: [], hardState: { term: 1, vote: "a", commit: 0 } });
    storage.log.persist({ entries: putEntries(1, 2, 2), hardState: { term: 2, vote: "b", commit: 2 } });
    expect(storage.log.hardState()).toEqual({ term: 2, vote: "b", commit: 2 });
  });

  test("entries() honours maxBytes but always returns at least one entry, from cache and from disk alike", () => {
    const dir = tempDir();
    const storage = open(dir);
    storage.log.persist({ entries: putEntries(1, 10, 1, 100) });
    const size = storage.log.entries(1, 2, 1 << 20)[0]!.data.byteLength + 24;
    expect(storage.log.entries(1, 11, 1).length).toBe(1);
    expect(storage.log.entries(1, 11, size * 3).length).toBe(3);
    expect(storage.log.entries(1, 11, size * 3 + 1).length).toBe(3);
    expect(storage.log.entries(4, 4, 10)).toEqual([]);
    storage.close();
    const reopened = open(dir);
    expect(reopened.log.entries(1, 11, 1).length).toBe(1);
    expect(reopened.log.entries(1, 11, size * 3).map((e) => e.index)).toEqual([1, 2, 3]);
    expect(() => reopened.log.entries(0, 2, 100)).toThrow(/compacted/);
    expect(() => reopened.log.entries(5, 12, 100)).toThrow(/beyond the last index 10/);
  });

  test("entries older than the in-memory cache are read back from SQLite", () => {
    const storage = open(tempDir());
    const total = ENTRY_CACHE_MAX_ENTRIES + 100;
    for (let first = 1; first <= total; first += 1000) {
      storage.log.persist({ entries: putEntries(first, Math.min(1000, total - first + 1), 1, 8) });
    }
    const early = storage.log.entries(1, 101, Number.MAX_SAFE_INTEGER);
    expect(early.map((e) => e.index)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const late = storage.log.entries(total - 9, total + 1, Number.MAX_SAFE_INTEGER);
    expect(late.map((e) => e.index)).toEqual(Array.from({ length: 10 }, (_, i) => total - 9 + i));
  });

  test("a payload that is a view into a larger buffer is stored as just the view", () => {
    const dir = tempDir();
    const storage = open(dir);
    const frame = new Uint8Array([9, 9, 1, 2, 3, 9, 9]);
    storage.log.persist({ entries: [entry(1, 1, frame.subarray(2, 5))] });
    storage.close();
    expect(Array.from(open(dir).log.entries(1, 2, 100)[0]!.data)).toEqual([1, 2, 3]);
  });

  test("terms are answered across many runs after a reopen", () => {
    const dir = tempDir();
    const storage = open(dir);
    let index = 1;
    for (let term = 1; term <= 20; term++) {
      storage.log.persist({ entries: putEntries(index, term % 3 + 1, term), hardState: { term, vote: "", commit: 0 } });
      index += term % 3 + 1;
    }
    const expected = Array.from({ length: index - 1 }, (_, i) => storage.log.term(i + 1));
    storage.close();
    const reopened = open(dir);
    expect(Array.from({ length: index - 1 }, (_, i) => reopened.log.term(i + 1))).toEqual(expected);
    expect(expected[expected.length - 1]).toBe(20);
  });

  test("compaction needs a snapshot covering it, then drops the prefix durably", async () => {
    const dir = tempDir();
    const storage = open(dir);
    const entries = putEntries(1, 20, 1);
    storage.persistReady({ entries, hardState: { term: 1, vote: "", commit: 20 }, snapshotChunks: [] });
    expect(() => storage.compact(5)).toThrow(/beyond the newest snapshot at 0/);
    storage.applyCommitted(entries.slice(0, 12));
    const meta = await storage.createSnapshot();
    expect(meta.index).toBe(12);
    expect(() => storage.compact(13)).toThrow(/beyond the newest snapshot at 12/);
    storage.compact(10);
    expect(storage.log.firstIndex()).toBe(11);
    expect(storage.log.term(10)).toBe(1);
    expect(storage.log.term(9)).toBeUndefined();
    expect(() => storage.log.entries(10, 12, 1000)).toThrow(/compacted/);
    storage.compact(8);
    expect(storage.log.firstIndex()).toBe(11);
    storage.close();
    const reopened = open(dir);
    expect(reopened.log.firstIndex()).toBe(11);
    expect(reopened.log.term(10)).toBe(1);
    expect(reopened.log.entries(11, 21, 1 << 20).map((e) => e.index)).toEqual(Array.from({ length: 10 }, (_, i) => 11 + i));
    // Entries at or below the compaction point are already covered and skipped.
    reopened.log.persist({ entries: [entry(9, 1), entry(10, 1)] });
    expect(reopened.log.lastIndex()).toBe(20);
    // ...but a batch that would cut committed entries off the end is refused.
    expect(() => reopened.log.persist({ entries: [entry(9, 1), entry(10, 1), entry(11, 1)] })).toThrow(/truncate committed entries up to 20/);
    expect(reopened.log.lastIndex()).toBe(20);
  });
});
