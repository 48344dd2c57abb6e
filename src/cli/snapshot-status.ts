// `dkv snapshot status FILE`: checks a backup made by `dkv snapshot save`
// without restoring it (as `etcdutl snapshot status` does) and says what it
// holds. The same checks as restore: a damaged or truncated file is refused.
import { defineCommand } from "citty";
import { CliError, UsageError } from "./errors.ts";
import { formatBytes, printJson, writeStdout } from "./client-commands/output.ts";

export const snapshotStatusCommand = defineCommand({
  meta: { name: "status", description: "Check a backup FILE (its seal) and show its revision, keys, members and SHA-256" },
  args: {
    file: { type: "positional", required: true, description: "The backup file" },
    output: { type: "string", default: "table", valueHint: "table|json", description: "Output format: table or json" },
  },
  async run({ args }) {
    if (args.output !== "table" && args.output !== "json") throw new UsageError(`--output must be table or json, not "${args.output}"`);
    const { inspectBackup, StorageError } = await import("../storage/index.ts");
    let status;
    try {
      status = inspectBackup(args.file);
    } catch (error) {
      if (error instanceof StorageError) throw new CliError(error.message);
      throw new CliError(`cannot read the backup ${args.file}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const sha256 = await fileSha256(args.file);
    const { meta } = status;
    const members = [...meta.confState.voters, ...meta.confState.learners.map((l) => `${l} (learner)`)];
    if (args.output === "json") {
      printJson({
        file: args.file,
        bytes: status.bytes,
        sha256,
        revision: meta.revision,
        index: meta.index,
        term: meta.term,
        cluster_id: meta.clusterId,
        keys: status.clientKeys,
        voters: meta.confState.voters,
        learners: meta.confState.learners,
      });
      return;
    }
    writeStdout(
      `${args.file}: a complete dkv backup (seal checked), ${formatBytes(status.bytes)}, sha256 ${sha256}\n` +
        `revision ${meta.revision} (raft index ${meta.index}, term ${meta.term}) of cluster ${meta.clusterId || "(unknown)"}\n` +
        `${status.clientKeys} key${status.clientKeys === 1 ? "" : "s"}; members ${members.join(", ") || "(none)"}\n`,
    );
  },
});

async function fileSha256(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}
