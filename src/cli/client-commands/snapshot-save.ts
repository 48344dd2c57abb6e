// `dkv snapshot save FILE`: a backup from a running cluster, streamed from
// one member and verified against the SHA-256 the server sends last. Meant as
// the `save` subcommand of the `snapshot` group (restore lives elsewhere).
import { defineCommand } from "citty";
import { clientArgs, withClient } from "./flags.ts";
import { parseDurationMs } from "./duration.ts";
import { formatBytes, printJson, writeStdout } from "./output.ts";
import { consistencyArg, parseConsistency } from "./consistency.ts";

export const snapshotSaveCommand = defineCommand({
  meta: { name: "save", description: "Save a verified backup of the cluster's state to FILE" },
  args: {
    file: { type: "positional", required: true, description: "Where to write the backup (written as FILE.part, renamed when verified)" },
    "snapshot-timeout": { type: "string", default: "10m", description: "Deadline for the whole download (e.g. 10m)" },
    consistency: {
      ...consistencyArg,
      description: "l: every acknowledged write (default; needs a quorum); s: what the member asked has applied, no quorum needed (recovery after losing a majority)",
    },
    ...clientArgs,
  },
  async run({ args }) {
    const timeoutMs = parseDurationMs(args["snapshot-timeout"], "--snapshot-timeout");
    const consistency = parseConsistency(args.consistency);
    await withClient(args, async (client, output) => {
      const saved = await client.saveSnapshot(args.file, { timeoutMs, consistency });
      if (output === "json") {
        return printJson({ path: saved.path, size_bytes: saved.sizeBytes, sha256: saved.sha256, index: saved.index, endpoint: saved.endpoint, consistency });
      }
      const stale = consistency === "serializable" ? ` (serializable: ${saved.endpoint}'s applied state; writes acknowledged by other members may be missing)` : "";
      writeStdout(`saved snapshot at index ${saved.index} (${formatBytes(saved.sizeBytes)}, sha256 ${saved.sha256}) from ${saved.endpoint} to ${saved.path}${stale}\n`);
    });
  },
});
