// Whether a quorum is healthy, decided from the member list and each
// member's status answer: a leader is known and a majority of the voting
// members answered. A pure function so the rule is tested on its own.
import type { EndpointStatus, HealthReport, Member, MemberHealth } from "./types.ts";

export function quorumSize(votersCount: number): number {
  return Math.floor(votersCount / 2) + 1;
}

/** `statuses` holds one answer (or error) per member, keyed by member id. */
export function evaluateHealth(members: readonly Member[], statuses: ReadonlyMap<string, EndpointStatus>): HealthReport {
  const rows: MemberHealth[] = members.map((member) => {
    const answer = statuses.get(member.id);
    const row: MemberHealth = {
      id: member.id,
      endpoint: member.clientAddress,
      isLearner: member.isLearner,
      answered: answer?.status !== undefined,
      isLeader: answer?.status?.isLeader ?? false,
    };
    if (answer?.status === undefined) row.error = answer?.error ?? "no client address advertised";
    return row;
  });
  const voters = rows.filter((r) => !r.isLearner);
  const answering = voters.filter((r) => r.answered);
  const needed = quorumSize(voters.length);
  const leaderId = findLeader(members, statuses);
  const base = { votersTotal: voters.length, votersAnswering: answering.length, members: rows };
  const withLeader = leaderId === undefined ? base : { ...base, leaderId };
  if (voters.length === 0) return { ...withLeader, healthy: false, reason: "the member list has no voting members" };
  if (answering.length < needed) {
    const silent = voters.filter((r) => !r.answered).map((r) => `${r.id}${r.endpoint ? ` (${r.endpoint})` : ""}: ${r.error}`);
    return { ...withLeader, healthy: false, reason: `only ${answering.length} of ${voters.length} voting members answered (a quorum needs ${needed}); ${silent.join("; ")}` };
  }
  if (leaderId === undefined) return { ...withLeader, healthy: false, reason: `no leader: ${answering.length} of ${voters.length} voting members answered but none is or knows a leader` };
  return { ...withLeader, healthy: true, reason: `leader ${leaderId}, ${answering.length} of ${voters.length} voting members answered` };
}

/** A member that says it leads, or else a leader id that a majority of the answering voters agree on. */
function findLeader(members: readonly Member[], statuses: ReadonlyMap<string, EndpointStatus>): string | undefined {
  const answers = members.map((m) => statuses.get(m.id)?.status).filter((s) => s !== undefined);
  const claimed = answers.find((s) => s.isLeader);
  if (claimed) return claimed.memberId;
  const votes = new Map<string, number>();
  for (const status of answers) if (status.leaderId !== "") votes.set(status.leaderId, (votes.get(status.leaderId) ?? 0) + 1);
  for (const [id, count] of votes) if (count >= quorumSize(answers.length)) return id;
  return undefined;
}
