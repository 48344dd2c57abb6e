// The data dir after a power cut (test/power-cut: what each file and
// directory held at its last fsync): what storage said was durable is there,
// a snapshot image included, and what it did not sync is gone.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStorage } from "../../src/storage";
import { buildShim, rebuildAfterCut, shimEnv, shimErrors } from "../power-cut/power-cut.ts";
import { cleanUpAfterEachTest, replayCommitted, tempDir, track } from "./helpers";

cleanUpAfterEachTest();
let work: string;
let shim: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "dkv-storage-cut-"));
  shim = buildShim(work);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("a power cut", () => {
  test("keeps the synced log, vote and recorded snapshot of a new data dir (its snap/ directory too), and drops the unsynced tail", async () => {
    const dir = realpathSync(tempDir());
    const shadow = join(work, "shadow");
    const child = Bun.spawn([process.execPath, "run", join(import.meta.dir, "power-cut-child.ts"), dir], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ...shimEnv(shim, dir, shadow) },
    });
    const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    expect({ stdout, stderr, code, signal: child.signalCode }).toEqual({ stdout: "done\n", stderr: "", code: 137, signal: "SIGKILL" });
    expect(shimErrors(shadow)).toBe("");

    const cut = rebuildAfterCut(dir, shadow);
    expect(cut.lostNames).toEqual([]);
    // The model bites: the unsynced commit of 31-35 was in the page cache and is not on the disk.
    expect(cut.changedFiles.some((f) => f.startsWith("dkv.db-wal "))).toBe(true);

    const storage = track(openStorage(dir, { clusterId: "c1", memberId: "m1" }));
    expect(storage.snapshots.newestMeta().index).toBe(20);
    expect(storage.log.lastIndex()).toBe(30);
    expect(storage.log.term(30)).toBe(2);
    expect(storage.log.hardState()).toEqual({ term: 2, vote: "n9", commit: 20 });
    expect(replayCommitted(storage)).toBe(20);
    expect(storage.kv.count()).toBe(20);
  });
});
