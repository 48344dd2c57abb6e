// Child for the deferred-sync test: appends entries with deferSync, prints a
// marker, then calls syncLog(); run under strace, the test checks the WAL is
// fdatasynced after the marker. Usage: bun run deferred-sync-child.ts <dir>
import { writeSync } from "node:fs";
import { openStorage } from "../../src/storage";
import { entry, putData } from "./commands";

const dir = process.argv[2];
if (dir === undefined) throw new Error("usage: deferred-sync-child.ts <data-dir>");
const storage = openStorage(dir);
const result = storage.persistReady({
  entries: [entry(1, 1, putData("k", "v"))],
  hardState: { term: 1, vote: "", commit: 0 },
  snapshotChunks: [],
  deferSync: true,
});
if (!result.syncPending) throw new Error("expected a pending sync");
// A write strace shows between the commit and the sync.
writeSync(1, "committed\n");
await storage.syncLog();
writeSync(1, "synced\n");
storage.close();
