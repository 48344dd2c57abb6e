// Helper process for the lock test: opens a data dir, says so, and holds it
// until killed. Usage: bun run test/storage/lock-holder.ts <data-dir>
import { openStorage } from "../../src/storage";

const dir = process.argv[2];
if (dir === undefined) throw new Error("usage: lock-holder.ts <data-dir>");
const storage = openStorage(dir);
console.log("holding");
// Keep the storage reachable: a collected lock connection is closed, and with it goes the lock.
setInterval(() => storage.identity(), 1 << 30);
