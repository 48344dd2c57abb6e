// `dkv del KEY [--prefix | --range-end END]`: deletes a key, every key under
// a prefix, or the keys in [KEY, END), in one revision. Deleting what is not
// there succeeds (exit 0) and says so: the keys are absent either way.
import { defineCommand } from "citty";
import { UsageError } from "../errors.ts";
import { clientArgs, withClient } from "./flags.ts";
import { printJson, writeStdout } from "./output.ts";

export const delCommand = defineCommand({
  meta: { name: "del", description: "Delete a key, every key under a prefix (--prefix), or a range (--range-end)" },
  args: {
    // Upper case: "key" is taken by --key, the client key file.
    KEY: { type: "positional", required: true, description: "Key to delete (with --prefix: the prefix)" },
    prefix: { type: "boolean", default: false, description: "Delete every key that starts with KEY" },
    "range-end": { type: "string", description: "Delete the keys from KEY up to (not including) this one" },
    ...clientArgs,
  },
  async run({ args }) {
    const rangeEnd = args["range-end"] ?? "";
    if (args.prefix && rangeEnd !== "") throw new UsageError("give --prefix or --range-end, not both");
    const ranged = args.prefix || rangeEnd !== "";
    await withClient(args, async (client, output) => {
      const { deleted, deletedCount, header } = await client.delete(args.KEY, { prefix: args.prefix, rangeEnd });
      if (output === "json") return printJson({ key: args.KEY, deleted, ...(ranged ? { deleted_count: deletedCount } : {}), revision: header.revision });
      if (ranged) writeStdout(`deleted ${deletedCount} key(s)\n`);
      else writeStdout(deleted ? `deleted ${JSON.stringify(args.KEY)}\n` : `key ${JSON.stringify(args.KEY)} did not exist\n`);
    });
  },
});
