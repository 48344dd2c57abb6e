// `dkv del KEY`: deletes a key. Deleting a key that is not there succeeds
// (exit 0) and says so: the key is absent either way.
import { defineCommand } from "citty";
import { clientArgs, withClient } from "./flags.ts";
import { printJson, writeStdout } from "./output.ts";

export const delCommand = defineCommand({
  meta: { name: "del", description: "Delete a key" },
  args: {
    // Upper case: "key" is taken by --key, the client key file.
    KEY: { type: "positional", required: true, description: "Key to delete" },
    ...clientArgs,
  },
  async run({ args }) {
    await withClient(args, async (client, output) => {
      const { deleted, header } = await client.delete(args.KEY);
      if (output === "json") return printJson({ key: args.KEY, deleted, revision: header.revision });
      writeStdout(deleted ? `deleted ${JSON.stringify(args.KEY)}\n` : `key ${JSON.stringify(args.KEY)} did not exist\n`);
    });
  },
});
