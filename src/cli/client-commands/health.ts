// `dkv health`: exit 0 when a quorum is healthy (a leader is known and a
// majority of the voting members answer status), else exit 1 with the reason.
import { defineCommand } from "citty";
import { CliError } from "../errors.ts";
import type { HealthReport } from "../../client/index.ts";
import { clientArgs, withClient } from "./flags.ts";
import { printJson, writeStdout } from "./output.ts";

export const healthCommand = defineCommand({
  meta: { name: "health", description: "Check that a quorum is healthy (exit 0) or not (exit 1)" },
  args: { ...clientArgs },
  async run({ args }) {
    await withClient(args, async (client, output) => {
      const report = await client.health();
      if (output === "json") printJson(reportJson(report));
      if (!report.healthy) throw new CliError(`unhealthy: ${report.reason}`, 1);
      if (output === "table") writeStdout(`healthy: ${report.reason}\n`);
    });
  },
});

function reportJson(report: HealthReport) {
  return {
    healthy: report.healthy,
    reason: report.reason,
    leader_id: report.leaderId ?? null,
    voters_total: report.votersTotal,
    voters_answering: report.votersAnswering,
    members: report.members.map((m) => ({
      id: m.id,
      endpoint: m.endpoint,
      is_learner: m.isLearner,
      is_leader: m.isLeader,
      answered: m.answered,
      ...(m.error !== undefined && { error: m.error }),
    })),
  };
}
