// `dkv set KEY VALUE`: writes a key; VALUE `-` reads the value from stdin.
import { defineCommand } from "citty";
import { clientArgs, parseCount, readValueArgument, withClient } from "./flags.ts";
import { keyValueJson, printJson, writeStdout } from "./output.ts";

export const setCommand = defineCommand({
  meta: { name: "set", description: "Write a key (VALUE - reads standard input)" },
  args: {
    // Upper case: "key" is taken by --key, the client key file.
    KEY: { type: "positional", required: true, description: "Key to write" },
    value: { type: "positional", required: true, description: "Value, or - to read it from standard input" },
    lease: { type: "string", description: "Attach the key to this lease (dkv lease grant): it is deleted when the lease ends" },
    ...clientArgs,
  },
  async run({ args }) {
    const lease = parseCount(args.lease, "--lease") ?? 0;
    const value = await readValueArgument(args.value);
    await withClient(args, async (client, output) => {
      const { kv, header } = await client.put(args.KEY, value, { lease });
      if (output === "json") return printJson({ ...(kv ? keyValueJson(kv) : { key: args.KEY }), revision: header.revision });
      writeStdout("OK\n");
    });
  },
});
