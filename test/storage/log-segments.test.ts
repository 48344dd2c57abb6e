import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { SCHEMA_VERSION, openStorage } from "../../src/storage";
import { LOG_SEGMENT_ENTRIES } from "../../src/storage/log-segments";
import { cleanUpAfterEachTest, putEntries, tempDir, track } from "./helpers";

cleanUpAfterEachTest();

const N = LOG_SEGMENT_ENTRIES;

/** The log's segment tables in a closed data dir, by name. */
function segmentTables(dir: string): string[] {
  const db = new Database(join(dir, "dkv.db"), { readonly: true });
  try {
    const rows = db.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND (name = 'log' OR name GLOB 'log_[0-9]*') ORDER BY name").all() as { name: string }[];
    return rows.map((row) => row.name);
  } finally {
    db.close(true);
  }
}

/** Appends entries first..last (term 1) in batches of 1,000, as Readies would. */
function appendRange(storage: ReturnType<typeof openStorage>, first: number, last: number, term = 1): void {
  for (let at = first; at <= last; at += 1000) {
    storage.log.persist({ entries: putEntries(at, Math.min(1000, last - at + 1), term, 8) });
  }
}

describe("log segments", () => {
  test("entries spread over segment tables read back across the boundaries, before and after a reopen", () => {
    const dir = tempDir();
    const storage = track(openStorage(dir));
    appendRange(storage, 1, 2 * N + 500);
    const across = (from: number, to: number) => storage.log.entries(from, to, Number.MAX_SAFE_INTEGER).map((e) => e.index);
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
    expect(across(N - 5, N + 5)).toEqual(range(N - 5, N + 5));
    expect(across(2 * N - 1, 2 * N + 2)).toEqual(range(2 * N - 1, 2 * N + 2));
    storage.close();
    expect(segmentTables(dir)).toEqual(["log_0", "log_1", "log_2"]);

    const reopened = track(openStorage(dir));
    expect(reopened.log.lastIndex()).toBe(2 * N + 500);
    expect(reopened.log.term(N + 1)).toBe(1);
    // From SQLite, not the cache: a read of the first segment, and one across all three.
    expect(reopened.log.entries(1, 4, Number.MAX_SAFE_INTEGER).map((e) => e.index)).toEqual([1, 2, 3]);
    expect(reopened.log.entries(1, 2 * N + 501, Number.MAX_SAFE_INTEGER).length).toBe(2 * N + 500);
  });

  test("a conflicting append truncates across segments: later tables are dropped, the straddled one keeps its prefix", () => {
    const dir = tempDir();
    const storage = track(openStorage(dir));
    appendRange(storage, 1, 2 * N + 500);
    storage.log.persist({ entries: putEntries(N - 4, 3, 2, 8), hardState: { term: 2, vote: "", commit: 0 } });
    expect(storage.log.lastIndex()).toBe(N - 2);
    expect(storage.log.term(N - 5)).toBe(1);
    expect(storage.log.term(N - 4)).toBe(2);
    storage.close();
    expect(segmentTables(dir)).toEqual(["log_0"]);

    const reopened = track(openStorage(dir));
    expect(reopened.log.lastIndex()).toBe(N - 2);
    expect(reopened.log.entries(N - 6, N - 1, Number.MAX_SAFE_INTEGER).map((e) => e.term)).toEqual([1, 1, 2, 2, 2]);
    // Appending again grows into a new segment table.
    reopened.log.persist({ entries: putEntries(N - 1, 5, 2, 8) });
    expect(reopened.log.entries(N - 1, N + 4, Number.MAX_SAFE_INTEGER).map((e) => e.index)).toEqual([N - 1, N, N + 1, N + 2, N + 3]);
  });

  test("compaction drops whole segment tables, writing almost nothing to the WAL, and keeps the rest readable", async () => {
    const dir = tempDir();
    const storage = track(openStorage(dir));
    const last = 2 * N + 2000;
    appendRange(storage, 1, last);
    storage.persistReady({ entries: [], hardState: { term: 1, vote: "", commit: last }, snapshotChunks: [] });
    storage.applyCommitted(storage.log.entries(1, last + 1, Number.MAX_SAFE_INTEGER));
    await storage.createSnapshot();
    const walBefore = statSync(join(dir, "dkv.db-wal")).size;
    storage.compact(N + 5000);
    const walGrowth = statSync(join(dir, "dkv.db-wal")).size - walBefore;
    // Deleting these 15,000 small rows instead grew the WAL by 133 pages here; dropping the table, by 4.
    expect(walGrowth).toBeLessThan(64 * 4096);
    expect(storage.log.firstIndex()).toBe(N + 5001);
    expect(storage.log.term(N + 5000)).toBe(1);
    expect(storage.log.term(N + 4999)).toBeUndefined();
    expect(() => storage.log.entries(N + 5000, N + 5002, 1000)).toThrow(/compacted/);
    expect(storage.log.entries(N + 5001, N + 5003, Number.MAX_SAFE_INTEGER).map((e) => e.index)).toEqual([N + 5001, N + 5002]);
    storage.close();
    // log_1 straddles the compaction point: its rows up to N + 5000 stay, unread, until it goes.
    expect(segmentTables(dir)).toEqual(["log_1", "log_2"]);

    const reopened = track(openStorage(dir));
    expect(reopened.log.firstIndex()).toBe(N + 5001);
    expect(reopened.log.lastIndex()).toBe(last);
    expect(reopened.log.entries(N + 5001, last + 1, Number.MAX_SAFE_INTEGER).length).toBe(last - N - 5000);
    reopened.compact(2 * N);
    expect(reopened.log.firstIndex()).toBe(2 * N + 1);
    reopened.close();
    expect(segmentTables(dir)).toEqual(["log_2"]);
  });

  test("a data dir of schema 2 (one log table) is split into segments when opened", () => {
    const dir = tempDir();
    const storage = track(openStorage(dir));
    appendRange(storage, 1, N + 1500);
    storage.persistReady({ entries: [], hardState: { term: 1, vote: "", commit: 40 }, snapshotChunks: [] });
    storage.close();
    // What a schema-2 binary left: every entry in one table named log.
    const raw = new Database(join(dir, "dkv.db"));
    try {
      raw.exec("CREATE TABLE log (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, type INTEGER NOT NULL, data BLOB NOT NULL)");
      raw.exec("INSERT INTO log SELECT * FROM log_0 UNION ALL SELECT * FROM log_1");
      raw.exec("DROP TABLE log_0");
      raw.exec("DROP TABLE log_1");
      raw.exec("UPDATE meta SET value = '2' WHERE key = 'schema_version'");
    } finally {
      raw.close(true);
    }
    expect(segmentTables(dir)).toEqual(["log"]);

    const reopened = track(openStorage(dir));
    expect(reopened.log.lastIndex()).toBe(N + 1500);
    expect(reopened.log.hardState().commit).toBe(40);
    expect(reopened.log.entries(N - 1, N + 2, Number.MAX_SAFE_INTEGER).map((e) => [e.index, e.term])).toEqual([
      [N - 1, 1],
      [N, 1],
      [N + 1, 1],
    ]);
    reopened.close();
    expect(segmentTables(dir)).toEqual(["log_0", "log_1"]);
    const check = new Database(join(dir, "dkv.db"), { readonly: true });
    try {
      expect((check.query("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string }).value).toBe(String(SCHEMA_VERSION));
    } finally {
      check.close(true);
    }
  });
});
