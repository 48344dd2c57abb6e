// The one executable: `dkv serve`, the client commands and the cert tool.
// Heavy modules are imported lazily by each command so `dkv --help` and the
// client commands start fast.
import "./plain-output.ts";
import { isMainThread } from "node:worker_threads";
import { defineCommand } from "citty";
import { dispatch } from "./dispatch.ts";
import { VERSION, versionLine } from "./version.ts";

export const rootCommand = defineCommand({
  meta: { name: "dkv", version: VERSION, description: "A fault-tolerant, Raft-replicated key-value store" },
  subCommands: {
    serve: () => import("./serve.ts").then((m) => m.serveCommand),
    get: () => import("./client-commands/get.ts").then((m) => m.getCommand),
    set: () => import("./client-commands/set.ts").then((m) => m.setCommand),
    del: () => import("./client-commands/del.ts").then((m) => m.delCommand),
    list: () => import("./client-commands/list.ts").then((m) => m.listCommand),
    cas: () => import("./client-commands/cas.ts").then((m) => m.casCommand),
    watch: () => import("./client-commands/watch.ts").then((m) => m.watchCommand),
    lease: () => import("./client-commands/lease.ts").then((m) => m.leaseCommand),
    txn: () => import("./client-commands/txn.ts").then((m) => m.txnCommand),
    member: () => import("./client-commands/member.ts").then((m) => m.memberCommand),
    status: () => import("./client-commands/status.ts").then((m) => m.statusCommand),
    health: () => import("./client-commands/health.ts").then((m) => m.healthCommand),
    "member-list": () => import("./client-commands/member.ts").then((m) => m.memberListCommand),
    "member-join": () => import("./client-commands/member.ts").then((m) => m.memberJoinCommand),
    "member-leave": () => import("./client-commands/member.ts").then((m) => m.memberLeaveCommand),
    snapshot: defineCommand({
      meta: { name: "snapshot", description: "Save a backup of a running cluster, check one, or restore one into a new data dir" },
      subCommands: {
        save: () => import("./client-commands/snapshot-save.ts").then((m) => m.snapshotSaveCommand),
        status: () => import("./snapshot-status.ts").then((m) => m.snapshotStatusCommand),
        restore: () => import("./snapshot-restore.ts").then((m) => m.snapshotRestoreCommand),
      },
    }),
    certs: () => import("./certs.ts").then((m) => m.certsCommand),
    auth: () => import("./auth-hash.ts").then((m) => m.authCommand),
  },
});

if (!isMainThread) {
  // The compiled binary has one entry point, this file, so its API worker
  // starts here too (src/api/worker-bridge.ts); from source it starts http-worker.ts itself.
  await import("../api/http-worker.ts");
} else if (import.meta.main) {
  // Not a top-level await: while one is pending, Bun prints an exception
  // thrown from a callback but keeps the process running, and a `dkv serve`
  // whose raft loop died that way would go on answering /healthz "ok".
  void dispatch(rootCommand, process.argv.slice(2), {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
  }, versionLine()).then((code) => {
    process.exitCode = code;
  });
}
