// `dkv list [PREFIX]`: keys (and values) in key order; `dkv list KEY
// --range-end END` lists [KEY, END) instead; --count-only prints how many.
// When --limit cut the answer short, a note on stderr says so (stdout stays
// parseable).
import { defineCommand } from "citty";
import { UsageError } from "../errors.ts";
import { consistencyArg, parseConsistency } from "./consistency.ts";
import { clientArgs, parseCount, withClient } from "./flags.ts";
import { keyValueJson, printJson, printTable, valueCell, writeStdout } from "./output.ts";

export const listCommand = defineCommand({
  meta: { name: "list", description: "List keys by prefix or range (--range-end), or count them (--count-only)" },
  args: {
    prefix: { type: "positional", required: false, description: "Only keys starting with this (default: all keys); with --range-end, the first key" },
    "range-end": { type: "string", description: "List keys in [PREFIX, END) instead of by prefix" },
    limit: { type: "string", description: "At most this many keys (default: the server's limit)" },
    "keys-only": { type: "boolean", default: false, description: "Print keys without values" },
    "count-only": { type: "boolean", default: false, description: "Print only how many keys are in range" },
    consistency: consistencyArg,
    ...clientArgs,
  },
  async run({ args }) {
    const limit = parseCount(args.limit, "--limit");
    if (args["range-end"] === "") throw new UsageError("--range-end must not be empty (leave it out to list by prefix)");
    const keysOnly = args["keys-only"];
    const consistency = parseConsistency(args.consistency);
    await withClient(args, async (client, output) => {
      const rangeEnd = args["range-end"];
      const range = rangeEnd === undefined ? { prefix: args.prefix ?? "" } : { key: args.prefix ?? "", rangeEnd };
      const result = await client.list({ ...range, limit, keysOnly, countOnly: args["count-only"], consistency });
      if (args["count-only"]) return output === "json" ? printJson({ count: result.count, revision: result.header.revision }) : writeStdout(`${result.count}\n`);
      if (output === "json") {
        return printJson({ kvs: result.kvs.map((kv) => keyValueJson(kv, keysOnly)), more: result.more, revision: result.header.revision });
      }
      if (keysOnly) writeStdout(result.kvs.map((kv) => kv.key + "\n").join(""));
      else if (result.kvs.length > 0) printTable(["KEY", "VALUE"], result.kvs.map((kv) => [kv.key, valueCell(kv.value)]));
      if (result.more) process.stderr.write(`(more keys match; showing ${result.kvs.length}, raise --limit to see more)\n`);
    });
  },
});
