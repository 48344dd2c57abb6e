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
    get: notBuilt("get", "Read a key"),
    set: notBuilt("set", "Write a key"),
    del: notBuilt("del", "Delete a key"),
    list: notBuilt("list", "List keys by prefix"),
    cas: notBuilt("cas", "Compare-and-swap a key"),
    member: notBuilt("member", "List, add and remove cluster members"),
    status: notBuilt("status", "Show each endpoint's raft status"),
    health: notBuilt("health", "Check that a quorum is healthy"),
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
