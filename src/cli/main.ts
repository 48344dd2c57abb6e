// The one executable: `dkv serve`, the client commands and the cert tool.
// Heavy modules are imported lazily by each command so `dkv --help` and the
// client commands start fast.
import { defineCommand } from "citty";
import { dispatch } from "./dispatch.ts";
import { notBuilt } from "./not-built.ts";
import { VERSION, versionLine } from "./version.ts";

export const rootCommand = defineCommand({
  meta: { name: "dkv", version: VERSION, description: "A fault-tolerant, Raft-replicated key-value store" },
  subCommands: {
    serve: notBuilt("serve", "Run a dkv node"),
    get: () => import("./client-commands/get.ts").then((m) => m.getCommand),
    set: () => import("./client-commands/set.ts").then((m) => m.setCommand),
    del: () => import("./client-commands/del.ts").then((m) => m.delCommand),
    list: () => import("./client-commands/list.ts").then((m) => m.listCommand),
    cas: () => import("./client-commands/cas.ts").then((m) => m.casCommand),
    member: () => import("./client-commands/member.ts").then((m) => m.memberCommand),
    status: () => import("./client-commands/status.ts").then((m) => m.statusCommand),
    health: () => import("./client-commands/health.ts").then((m) => m.healthCommand),
    snapshot: notBuilt("snapshot", "Save or restore a backup"),
    certs: notBuilt("certs", "Mint a CA and node/client certificates"),
  },
});

if (import.meta.main) {
  const code = await dispatch(rootCommand, process.argv.slice(2), {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
  }, versionLine());
  process.exitCode = code;
}
