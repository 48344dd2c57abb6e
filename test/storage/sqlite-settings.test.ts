import { describe, expect, test } from "bun:test";
import { autocheckpointPages, closeDatabase } from "../../src/storage/sqlite";
import { openDataDir } from "../../src/storage/data-dir";
import { cleanUpAfterEachTest, tempDir } from "./helpers";

cleanUpAfterEachTest();

describe("sqlite settings of a node's connection", () => {
  test("the WAL checkpoint threshold is spread over 3,072-5,120 pages, so members do not checkpoint in step", () => {
    expect(autocheckpointPages(() => 0)).toBe(3072);
    expect(autocheckpointPages(() => 0.5)).toBe(4096);
    expect(autocheckpointPages(() => 0.9999999)).toBe(5120);
    const seen = new Set(Array.from({ length: 50 }, () => autocheckpointPages()));
    expect(seen.size).toBeGreaterThan(1);
    for (const pages of seen) expect(pages >= 3072 && pages <= 5120).toBe(true);
  });

  test("an opened data dir's connection runs WAL, FULL sync, an exclusive lock and a spread checkpoint threshold", () => {
    const opened = openDataDir(tempDir());
    try {
      const pragma = (name: string) => Object.values(opened.db.query(`PRAGMA ${name}`).get() as Record<string, unknown>)[0];
      expect(pragma("journal_mode")).toBe("wal");
      expect(pragma("synchronous")).toBe(2);
      expect(pragma("locking_mode")).toBe("exclusive");
      const threshold = Number(pragma("wal_autocheckpoint"));
      expect(threshold >= 3072 && threshold <= 5120).toBe(true);
    } finally {
      closeDatabase(opened.db);
      opened.lock.release();
    }
  });
});
