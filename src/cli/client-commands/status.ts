// `dkv status`: one row per endpoint (the given ones and those the cluster
// advertises): member, leader?, term, commit, applied, db size, version.
// Exit 1 when any endpoint did not answer; when none did, one line instead.
import { defineCommand } from "citty";
import { CliError } from "../errors.ts";
import type { EndpointStatus } from "../../client/index.ts";
import { clientArgs, withClient } from "./flags.ts";
import { formatBytes, printJson, printTable } from "./output.ts";

export const statusCommand = defineCommand({
  meta: { name: "status", description: "Show each endpoint's raft status" },
  args: { ...clientArgs },
  async run({ args }) {
    await withClient(args, async (client, output) => {
      const rows = await client.statusAll();
      const failed = rows.filter((r) => r.error !== undefined);
      if (failed.length === rows.length) {
        const last = failed.at(-1);
        throw new CliError(`no endpoint answered status (tried ${rows.map((r) => r.endpoint).join(", ")}); last error: ${last?.endpoint}: ${last?.error}`, 1);
      }
      if (output === "json") printJson({ endpoints: rows.map(statusJson) });
      else printStatusTable(rows);
      if (failed.length > 0) throw new CliError(`${failed.length} of ${rows.length} endpoints did not answer: ${failed.map((r) => `${r.endpoint}: ${r.error}`).join("; ")}`, 1);
    });
  },
});

function statusJson(row: EndpointStatus) {
  if (!row.status) return { endpoint: row.endpoint, error: row.error };
  const s = row.status;
  return {
    endpoint: row.endpoint,
    member_id: s.memberId,
    is_leader: s.isLeader,
    leader_id: s.leaderId,
    is_learner: s.isLearner,
    raft_term: s.raftTerm,
    commit_index: s.commitIndex,
    applied_index: s.appliedIndex,
    db_size_bytes: s.dbSizeBytes,
    version: s.version,
    cluster_id: s.clusterId,
  };
}

function printStatusTable(rows: readonly EndpointStatus[]): void {
  const headers = ["ENDPOINT", "MEMBER", "LEADER", "TERM", "COMMIT", "APPLIED", "DB SIZE", "VERSION"];
  const withErrors = rows.some((r) => r.error !== undefined);
  const cells = rows.map((r) => {
    const s = r.status;
    const base = s
      ? [r.endpoint, s.memberId, s.isLeader ? "yes" : "no", String(s.raftTerm), String(s.commitIndex), String(s.appliedIndex), formatBytes(s.dbSizeBytes), s.version]
      : [r.endpoint, "-", "-", "-", "-", "-", "-", "-"];
    return withErrors ? [...base, r.error ?? ""] : base;
  });
  printTable(withErrors ? [...headers, "ERROR"] : headers, cells);
}
