// `dkv get KEY`: prints the value (bytes as stored, then a newline). A
// missing key is exit 1 with `key "x" not found`.
import { defineCommand } from "citty";
import { CliError } from "../errors.ts";
import { consistencyArg, parseConsistency } from "./consistency.ts";
import { clientArgs, withClient } from "./flags.ts";
import { keyValueJson, printJson, writeStdout } from "./output.ts";

export const getCommand = defineCommand({
  meta: { name: "get", description: "Read a key" },
  args: {
    // Upper case: "key" is taken by --key, the client key file.
    KEY: { type: "positional", required: true, description: "Key to read" },
    consistency: consistencyArg,
    revision: { type: "boolean", default: false, description: "Also print the key's mod/create revision and version" },
    ...clientArgs,
  },
  async run({ args }) {
    const consistency = parseConsistency(args.consistency);
    await withClient(args, async (client, output) => {
      const { kv, header } = await client.get(args.KEY, { consistency });
      if (!kv) throw new CliError(`key ${JSON.stringify(args.KEY)} not found`, 1);
      if (output === "json") return printJson({ ...keyValueJson(kv), revision: header.revision, member_id: header.memberId });
      writeStdout(kv.value);
      writeStdout("\n");
      if (args.revision) writeStdout(`mod_revision=${kv.modRevision} create_revision=${kv.createRevision} version=${kv.version}${kv.lease ? ` lease=${kv.lease}` : ""}\n`);
    });
  },
});
