import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { openStorage } from "../../src/storage";
import { cleanUpAfterEachTest, entry, putData, tempDir, track } from "./helpers";

cleanUpAfterEachTest();

describe("deferred log sync", () => {
  test("deferSync commits without waiting for the disk and says a sync is pending; syncLog resolves and the write is there after reopen", async () => {
    const dir = tempDir();
    const storage = track(openStorage(dir));
    const result = storage.persistReady({
      entries: [entry(1, 1, putData("a", "1")), entry(2, 1, putData("b", "2"))],
      hardState: { term: 1, vote: "n1", commit: 0 },
      snapshotChunks: [],
      deferSync: true,
    });
    expect(result.syncPending).toBe(true);
    expect(storage.log.lastIndex()).toBe(2);
    await storage.syncLog();
    storage.close();
    const reopened = track(openStorage(dir));
    expect(reopened.log.lastIndex()).toBe(2);
    expect(reopened.log.hardState()).toEqual({ term: 1, vote: "n1", commit: 0 });
  });

  test("syncLog keeps one WAL descriptor of its own open across calls; close() with a sync in flight lets it finish, then closes it", async () => {
    const dir = tempDir();
    const storage = track(openStorage(dir));
    const walDescriptors = () =>
      readdirSync("/proc/self/fd").filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith(join(dir, "dkv.db-wal"));
        } catch {
          return false; // closed meanwhile
        }
      }).length;
    storage.persistReady({ entries: [entry(1, 1, putData("a", "1"))], hardState: { term: 1, vote: "", commit: 0 }, snapshotChunks: [], deferSync: true });
    const sqlitesOwn = walDescriptors();
    await storage.syncLog();
    for (let i = 0; i < 5; i++) await storage.syncLog();
    expect(walDescriptors()).toBe(sqlitesOwn + 1);
    const inFlight = storage.syncLog();
    storage.close();
    await inFlight;
    expect(walDescriptors()).toBe(0);
  });

  test("nothing is pending when nothing needed a sync or nothing was written", () => {
    const storage = track(openStorage(tempDir()));
    storage.persistReady({ entries: [entry(1, 1, putData("a", "1"))], hardState: { term: 1, vote: "", commit: 0 }, snapshotChunks: [] });
    // Only the commit index moved: raft does not need it durable before sending.
    const commitOnly = storage.persistReady({ entries: [], hardState: { term: 1, vote: "", commit: 1 }, snapshotChunks: [], mustSync: false, deferSync: true });
    expect(commitOnly.syncPending).toBe(false);
    // Without deferSync the fsync happened inside the commit.
    const synced = storage.persistReady({ entries: [entry(2, 1, putData("b", "2"))], snapshotChunks: [] });
    expect(synced.syncPending).toBe(false);
    // An empty Ready writes nothing.
    expect(storage.persistReady({ entries: [], snapshotChunks: [], deferSync: true }).syncPending).toBe(false);
  });

  test("syncLog is a real fdatasync of the WAL, issued after the commit (strace), on a thread other than the event loop's, and the commit before it wrote without syncing", async () => {
    // .ci/run installs strace; its absence is a failure, not a skip.
    expect(existsSync("/usr/bin/strace")).toBe(true);
    const dir = tempDir();
    const child = Bun.spawn(
      ["strace", "-f", "-e", "trace=fdatasync,fsync,write,pwrite64,openat", "-e", "signal=none", process.execPath, "run", join(import.meta.dir, "deferred-sync-child.ts"), dir],
      { stdout: "pipe", stderr: "pipe" },
    );
    const [stdout, trace, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    expect(stdout).toBe("committed\nsynced\n");
    expect(code).toBe(0);
    const lines = trace.split("\n");
    const committedAt = lines.findIndex((l) => /write\(1, "committed\\n"/.test(l));
    const syncedAt = lines.findIndex((l) => /write\(1, "synced\\n"/.test(l));
    expect(committedAt).toBeGreaterThan(0);
    // The WAL opened for the sync, and an fdatasync on that descriptor, between the two markers.
    const between = lines.slice(committedAt + 1, syncedAt);
    const open = between.map((l) => l.match(/openat\(.*dkv\.db-wal", O_RDONLY.*= (\d+)$/)).find((m) => m !== null);
    expect(open).toBeDefined();
    const fd = open![1];
    expect(between.some((l) => new RegExp(`fdatasync\\(${fd}\\)\\s+= 0`).test(l))).toBe(true);
    // The commit itself wrote its frames into SQLite's WAL descriptor and did not sync them...
    const sqliteWal = lines.map((l) => l.match(/openat\(.*dkv\.db-wal", O_RDWR\|O_CREAT.*= (\d+)$/)).find((m) => m !== null);
    expect(sqliteWal).toBeDefined();
    const walFd = sqliteWal![1];
    const lastFrameWrite = lines.slice(0, committedAt).findLastIndex((l) => l.includes(`pwrite64(${walFd},`));
    expect(lastFrameWrite).toBeGreaterThan(0);
    expect(lines.slice(lastFrameWrite, committedAt).some((l) => /\b(fsync|fdatasync)\(/.test(l))).toBe(false);
    // ...and the sync ran on another thread than the one that committed (the event loop was free).
    const pidOf = (line: string | undefined) => line?.match(/^\[pid\s+(\d+)\]/)?.[1];
    const syncLine = between.find((l) => new RegExp(`fdatasync\\(${fd}\\)`).test(l));
    expect(pidOf(syncLine)).toBeDefined();
    expect(pidOf(syncLine)).not.toBe(pidOf(lines[committedAt]));
  });
});
