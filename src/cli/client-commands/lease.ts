// `dkv lease grant TTL | keep-alive ID | revoke ID | ttl ID`: leases, as
// etcdctl has them. A key written with `dkv set KEY VALUE --lease ID` is
// deleted when its lease ends: TTL seconds after the leader last heard a
// keep-alive, or at a revoke. `keep-alive` keeps a lease going until Ctrl-C
// (or --once), sending a keep-alive every third of its TTL.
import { defineCommand } from "citty";
import { CliError, UsageError } from "../errors.ts";
import { ServerError } from "../../client/index.ts";
import { clientArgs, parseCount, withClient } from "./flags.ts";
import { sleepUnless, untilInterrupted } from "./interrupt.ts";
import { printJson, printTable, writeStdout } from "./output.ts";

function leaseId(text: string): number {
  const id = parseCount(text, "lease ID");
  if (id === undefined || id === 0) throw new UsageError(`lease ID must be a positive whole number, not "${text}"`);
  return id;
}

const grantCommand = defineCommand({
  meta: { name: "grant", description: "Grant a lease that ends TTL seconds after its last keep-alive; prints its ID" },
  args: {
    ttl: { type: "positional", required: true, description: "Seconds the lease lives without a keep-alive" },
    id: { type: "string", description: "Use this lease ID instead of one the cluster picks" },
    ...clientArgs,
  },
  async run({ args }) {
    const ttl = parseCount(args.ttl, "TTL");
    if (ttl === undefined || ttl === 0) throw new UsageError(`TTL must be a positive whole number of seconds, not "${args.ttl}"`);
    const id = args.id === undefined ? 0 : leaseId(args.id);
    await withClient(args, async (client, output) => {
      const lease = await client.leaseGrant(ttl, { id });
      if (output === "json") return printJson({ id: lease.id, ttl_seconds: lease.ttlSeconds, revision: lease.header.revision });
      writeStdout(`${lease.id}\n`);
    });
  },
});

const keepAliveCommand = defineCommand({
  meta: { name: "keep-alive", description: "Keep a lease alive until Ctrl-C (a keep-alive every third of its TTL)" },
  args: {
    ID: { type: "positional", required: true, description: "Lease ID" },
    once: { type: "boolean", default: false, description: "Send one keep-alive and exit" },
    ...clientArgs,
  },
  async run({ args }) {
    const id = leaseId(args.ID);
    await untilInterrupted((stop) =>
      withClient(args, async (client, output) => {
        while (!stop.aborted) {
          let ttl: number;
          try {
            ttl = (await client.leaseKeepAlive(id)).ttlSeconds;
          } catch (error) {
            if (error instanceof ServerError && error.code === "not_found") throw new CliError(`lease ${id} has ended (expired or revoked); its keys are deleted`, 1);
            throw error;
          }
          if (output === "json") writeStdout(JSON.stringify({ id, ttl_seconds: ttl }) + "\n");
          else writeStdout(`lease ${id} kept alive, ttl ${ttl} s\n`);
          if (args.once) return;
          await sleepUnless(stop, Math.max(500, (ttl * 1000) / 3));
        }
      }),
    );
  },
});

const revokeCommand = defineCommand({
  meta: { name: "revoke", description: "End a lease now, deleting the keys attached to it" },
  args: {
    ID: { type: "positional", required: true, description: "Lease ID" },
    ...clientArgs,
  },
  async run({ args }) {
    const id = leaseId(args.ID);
    await withClient(args, async (client, output) => {
      const result = await client.leaseRevoke(id);
      if (output === "json") return printJson({ id, deleted_keys: result.deletedKeys, revision: result.header.revision });
      writeStdout(`lease ${id} revoked, ${result.deletedKeys} key(s) deleted\n`);
    });
  },
});

const ttlCommand = defineCommand({
  meta: { name: "ttl", description: "Show a lease's granted TTL, the seconds it has left and (--keys) its keys" },
  args: {
    ID: { type: "positional", required: true, description: "Lease ID" },
    keys: { type: "boolean", default: false, description: "Also list the keys attached to the lease" },
    ...clientArgs,
  },
  async run({ args }) {
    const id = leaseId(args.ID);
    await withClient(args, async (client, output) => {
      const lease = await client.leaseTimeToLive(id, { keys: args.keys });
      if (output === "json") {
        return printJson({ id, granted_ttl_seconds: lease.grantedTtlSeconds, remaining_seconds: lease.remainingSeconds, ...(args.keys ? { keys: lease.keys } : {}) });
      }
      const remaining = lease.remainingSeconds < 0 ? "unknown (a serializable answer from a member that is not the leader)" : `${lease.remainingSeconds} s`;
      writeStdout(`lease ${id}: granted ttl ${lease.grantedTtlSeconds} s, remaining ${remaining}\n`);
      if (args.keys) for (const key of lease.keys) writeStdout(`${key}\n`);
    });
  },
});

const listCommand = defineCommand({
  meta: { name: "list", description: "List every lease and the TTL it was granted" },
  args: { ...clientArgs },
  async run({ args }) {
    await withClient(args, async (client, output) => {
      const { leases } = await client.leaseList();
      if (output === "json") return printJson({ leases: leases.map((l) => ({ id: l.id, granted_ttl_seconds: l.grantedTtlSeconds })) });
      printTable(["ID", "GRANTED TTL"], leases.map((l) => [String(l.id), `${l.grantedTtlSeconds} s`]));
    });
  },
});

export const leaseCommand = defineCommand({
  meta: { name: "lease", description: "Grant, keep alive, revoke, list and inspect leases (keys set with --lease end with them)" },
  subCommands: { grant: grantCommand, "keep-alive": keepAliveCommand, revoke: revokeCommand, ttl: ttlCommand, list: listCommand },
});
