// `dkv cas KEY --expect OLD VALUE` (or --expect-revision N; 0 = the key must
// not exist): writes VALUE only if the key still holds what the caller saw.
// A failed comparison exits 1 and shows the current value and revision. Never
// retried once sent: a lost answer is reported as "outcome unknown".
import { defineCommand } from "citty";
import { CliError, UsageError } from "../errors.ts";
import type { CompareAndSwapResult, Expectation, KeyValue } from "../../client/index.ts";
import { clientArgs, parseCount, readValueArgument, withClient } from "./flags.ts";
import { keyValueJson, printJson, quoteValue, writeStdout } from "./output.ts";

export const casCommand = defineCommand({
  meta: { name: "cas", description: "Compare-and-swap a key: write VALUE only if it still holds --expect (or --expect-revision)" },
  args: {
    // Upper case: "key" is taken by --key, the client key file.
    KEY: { type: "positional", required: true, description: "Key to compare and write" },
    value: { type: "positional", required: true, description: "New value, or - to read it from standard input" },
    expect: { type: "string", description: "The value the key must hold now" },
    "expect-revision": { type: "string", description: "The mod revision the key must have now (0: the key must not exist)" },
    lease: { type: "string", description: "Attach the written key to this lease (a lock: --expect-revision 0 --lease ID)" },
    ...clientArgs,
  },
  async run({ args }) {
    const expect = parseExpectation(args.expect, args["expect-revision"]);
    const lease = parseCount(args.lease, "--lease") ?? 0;
    const value = await readValueArgument(args.value);
    await withClient(args, async (client, output) => {
      const result = await client.compareAndSwap({ key: args.KEY, expect, value, lease });
      if (output === "json") printJson(resultJson(args.KEY, result));
      if (!result.succeeded) throw new CliError(failureMessage(args.KEY, expect, result.previous), 1);
      if (output === "table") writeStdout("OK\n");
    });
  },
});

function parseExpectation(value: string | undefined, revision: string | undefined): Expectation {
  if (value !== undefined && revision !== undefined) throw new UsageError("give --expect or --expect-revision, not both");
  if (value !== undefined) return { value };
  const modRevision = parseCount(revision, "--expect-revision");
  if (modRevision === undefined) throw new UsageError("missing --expect OLD_VALUE or --expect-revision N");
  return { modRevision };
}

function resultJson(key: string, result: CompareAndSwapResult) {
  return { key, succeeded: result.succeeded, previous: result.previous ? keyValueJson(result.previous) : null, revision: result.header.revision };
}

function failureMessage(key: string, expect: Expectation, current: KeyValue | undefined): string {
  const wanted = "value" in expect ? `expected ${JSON.stringify(expect.value)}` : `expected mod_revision ${"modRevision" in expect ? expect.modRevision : "?"}`;
  if (!current) return `compare failed: key ${JSON.stringify(key)} does not exist (${wanted})`;
  return `compare failed: key ${JSON.stringify(key)} is ${quoteValue(current.value)} at mod_revision ${current.modRevision} (${wanted})`;
}
