// `dkv watch KEY [--prefix | --range-end END]`: prints each change of the key
// (or of every key under the prefix, or in [KEY, END)) as the cluster applies
// it, one line per change, until Ctrl-C or --count changes; --puts-only and
// --deletes-only leave out the other kind. A line on stderr says when the
// watch is in place.
import { defineCommand } from "citty";
import { UsageError } from "../errors.ts";
import type { WatchEvent } from "../../client/index.ts";
import { clientArgs, parseCount, withClient } from "./flags.ts";
import { untilInterrupted } from "./interrupt.ts";
import { keyValueJson, valueCell, valueJson, writeStdout } from "./output.ts";

export const watchCommand = defineCommand({
  meta: { name: "watch", description: "Print the changes of a key, or of every key under a prefix, as they happen" },
  args: {
    // Upper case: "key" is taken by --key, the client key file.
    KEY: { type: "positional", required: true, description: "Key to watch (with --prefix: the prefix; \"\" = all keys)" },
    prefix: { type: "boolean", default: false, description: "Watch every key that starts with KEY" },
    "range-end": { type: "string", description: "Watch the keys in [KEY, END) instead" },
    // Not --no-put / --no-delete: the flag parser reads "--no-X" as X=false.
    "deletes-only": { type: "boolean", default: false, description: "Print only deletes (the server leaves puts out)" },
    "puts-only": { type: "boolean", default: false, description: "Print only puts (the server leaves deletes out)" },
    rev: { type: "string", description: "Start at this revision (it must still be in the member's recent history); default: changes from now" },
    count: { type: "string", description: "Exit after this many changes" },
    "prev-kv": { type: "boolean", default: false, description: "Also print each key's value before the change" },
    ...clientArgs,
  },
  async run({ args }) {
    const startRevision = parseCount(args.rev, "--rev");
    const count = parseCount(args.count, "--count");
    const rangeEnd = args["range-end"];
    if (rangeEnd === "") throw new UsageError("--range-end must not be empty (leave it out to watch one key)");
    if (rangeEnd !== undefined && args.prefix) throw new UsageError("give --prefix or --range-end, not both");
    if (args["puts-only"] && args["deletes-only"]) throw new UsageError("give --puts-only or --deletes-only, not both (together nothing would be printed)");
    await untilInterrupted((stop) =>
      withClient(args, async (client, output) => {
        let seen = 0;
        let first = true;
        const filters = { noPut: args["deletes-only"], noDelete: args["puts-only"], ...(rangeEnd !== undefined ? { rangeEnd } : {}) };
        const watch = client.watch(args.KEY, { prefix: args.prefix, prevKv: args["prev-kv"], ...filters, signal: stop, ...(startRevision ? { startRevision } : {}) });
        for await (const batch of watch) {
          if (first) {
            first = false;
            const what = args.prefix
              ? `keys starting with ${JSON.stringify(args.KEY)}`
              : rangeEnd !== undefined
                ? `keys in [${JSON.stringify(args.KEY)}, ${JSON.stringify(rangeEnd)})`
                : JSON.stringify(args.KEY);
            process.stderr.write(`watching ${what}: changes after revision ${batch.header.revision} follow (Ctrl-C to stop)\n`);
          }
          for (const event of batch.events) {
            // One JSON document per line: a stream a program can read as it comes.
            if (output === "json") writeStdout(JSON.stringify(eventJson(event)) + "\n");
            else writeStdout(eventLine(event));
            seen++;
            if (count !== undefined && seen >= count) return;
          }
        }
      }),
    );
  },
});

function eventLine(event: WatchEvent): string {
  const key = JSON.stringify(event.kv.key);
  const before = event.prevKv === undefined ? "" : ` previous=${valueCell(event.prevKv.value)}`;
  if (event.type === "delete") return `delete ${key} revision=${event.kv.modRevision}${before}\n`;
  return `put ${key} ${valueCell(event.kv.value)} revision=${event.kv.modRevision} version=${event.kv.version}${before}\n`;
}

function eventJson(event: WatchEvent) {
  const before = event.prevKv === undefined ? {} : { prev_kv: keyValueJson(event.prevKv) };
  if (event.type === "delete") return { type: "delete", key: event.kv.key, mod_revision: event.kv.modRevision, ...before };
  return { type: "put", key: event.kv.key, ...valueJson(event.kv.value), create_revision: event.kv.createRevision, mod_revision: event.kv.modRevision, version: event.kv.version, ...before };
}
