// `dkv list [PREFIX]`: keys (and values) in key order. When --limit cut the
// answer short, a note on stderr says so (stdout stays parseable).
import { defineCommand } from "citty";
import { consistencyArg, parseConsistency } from "./consistency.ts";
import { clientArgs, parseCount, withClient } from "./flags.ts";
import { keyValueJson, printJson, printTable, valueCell, writeStdout } from "./output.ts";

export const listCommand = defineCommand({
  meta: { name: "list", description: "List keys by prefix" },
  args: {
    prefix: { type: "positional", required: false, description: "Only keys starting with this (default: all keys)" },
    limit: { type: "string", description: "At most this many keys (default: the server's limit)" },
    "keys-only": { type: "boolean", default: false, description: "Print keys without values" },
    consistency: consistencyArg,
    ...clientArgs,
  },
  async run({ args }) {
    const limit = parseCount(args.limit, "--limit");
    const keysOnly = args["keys-only"];
    const consistency = parseConsistency(args.consistency);
    await withClient(args, async (client, output) => {
      const result = await client.list({ prefix: args.prefix ?? "", limit, keysOnly, consistency });
      if (output === "json") {
        return printJson({ kvs: result.kvs.map((kv) => keyValueJson(kv, keysOnly)), more: result.more, revision: result.header.revision });
      }
      if (keysOnly) writeStdout(result.kvs.map((kv) => kv.key + "\n").join(""));
      else if (result.kvs.length > 0) printTable(["KEY", "VALUE"], result.kvs.map((kv) => [kv.key, valueCell(kv.value)]));
      if (result.more) process.stderr.write(`(more keys match; showing ${result.kvs.length}, raise --limit to see more)\n`);
    });
  },
});
