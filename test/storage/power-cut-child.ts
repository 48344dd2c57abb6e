// Child for the storage power-cut test, run under test/power-cut's shim:
// opens a new data dir, commits entries 1-20, applies them and records a
// snapshot, commits 21-30 and a vote in term 2 with a deferred sync and syncs
// them, then commits 31-35 and a vote in term 3 with a deferred sync it never
// makes, and kills itself (the cut follows). Usage: bun run power-cut-child.ts <data-dir>
import { writeSync } from "node:fs";
import { openStorage } from "../../src/storage";
import { putEntries } from "./helpers";

const dir = process.argv[2];
if (dir === undefined) throw new Error("usage: power-cut-child.ts <data-dir>");
// With an identity, as `dkv serve` opens it: recording it is the first write to the new database.
const storage = openStorage(dir, { clusterId: "c1", memberId: "m1" });
const first = putEntries(1, 20, 1);
storage.persistReady({ entries: first, hardState: { term: 1, vote: "", commit: 20 }, snapshotChunks: [] });
storage.applyCommitted(first);
await storage.createSnapshot();
// A vote goes out only once it is durable: here with the entries of term 2, synced after the commit.
const synced = storage.persistReady({ entries: putEntries(21, 10, 2), hardState: { term: 2, vote: "n9", commit: 20 }, snapshotChunks: [], deferSync: true });
if (!synced.syncPending) throw new Error("expected a pending sync");
await storage.syncLog();
// Never synced: the vote of term 3 was never sent, so losing it is allowed.
storage.persistReady({ entries: putEntries(31, 5, 3), hardState: { term: 3, vote: "n7", commit: 20 }, snapshotChunks: [], deferSync: true });
writeSync(1, "done\n");
// A crash, not an exit: an exit could close the database, and closing checkpoints and syncs.
process.kill(process.pid, "SIGKILL");
