// The quorum-health rule on its own: a leader is known and a majority of the
// voting members answer.
import { describe, expect, test } from "bun:test";
import { evaluateHealth, type EndpointStatus, type Member, type NodeStatus } from "../../src/client/index.ts";

const member = (id: string, learner = false): Member => ({ id, peerAddress: `${id}:2380`, clientAddress: `${id}:2379`, isLeader: false, isLearner: learner });

function status(id: string, leaderId: string): EndpointStatus {
  const s: NodeStatus = {
    memberId: id, clusterId: "c", leaderId, isLeader: id === leaderId, isLearner: false,
    raftTerm: 2, commitIndex: 5, appliedIndex: 5, dbSizeBytes: 1, version: "v",
  };
  return { endpoint: `${id}:2379`, status: s };
}
const down = (id: string): EndpointStatus => ({ endpoint: `${id}:2379`, error: "connection refused" });

describe("quorum health", () => {
  test("all three answer and one leads: healthy", () => {
    const report = evaluateHealth([member("a"), member("b"), member("c")], new Map([["a", status("a", "a")], ["b", status("b", "a")], ["c", status("c", "a")]]));
    expect(report).toMatchObject({ healthy: true, leaderId: "a", votersAnswering: 3, votersTotal: 3 });
  });

  test("two of three answer: still a quorum", () => {
    const report = evaluateHealth([member("a"), member("b"), member("c")], new Map([["a", status("a", "a")], ["b", status("b", "a")], ["c", down("c")]]));
    expect(report.healthy).toBe(true);
    expect(report.members.find((m) => m.id === "c")).toMatchObject({ answered: false, error: "connection refused" });
  });

  test("one of three answers: unhealthy, and the reason names the silent members", () => {
    const report = evaluateHealth([member("a"), member("b"), member("c")], new Map([["a", status("a", "a")], ["b", down("b")], ["c", down("c")]]));
    expect(report.healthy).toBe(false);
    expect(report.reason).toContain("only 1 of 3 voting members answered (a quorum needs 2)");
    expect(report.reason).toContain("b (b:2379): connection refused");
  });

  test("a majority answers but nobody knows a leader: unhealthy", () => {
    const report = evaluateHealth([member("a"), member("b"), member("c")], new Map([["a", status("a", "")], ["b", status("b", "")], ["c", status("c", "")]]));
    expect(report.healthy).toBe(false);
    expect(report.reason).toContain("no leader");
  });

  test("a leader named by the majority counts even if the leader itself is silent", () => {
    const report = evaluateHealth([member("a"), member("b"), member("c")], new Map([["a", down("a")], ["b", status("b", "a")], ["c", status("c", "a")]]));
    expect(report).toMatchObject({ healthy: true, leaderId: "a" });
  });

  test("learners do not count toward the quorum", () => {
    const members = [member("a"), member("l1", true), member("l2", true)];
    const report = evaluateHealth(members, new Map([["a", status("a", "a")], ["l1", down("l1")], ["l2", down("l2")]]));
    expect(report).toMatchObject({ healthy: true, votersTotal: 1, votersAnswering: 1 });
  });
});
