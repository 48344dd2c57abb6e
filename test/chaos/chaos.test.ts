// Jepsen-style fault tests of the compiled binary: 3 and 5 members in their
// own network namespaces, concurrent clients, every fault kind of the nemesis
// once (kill -9 of one member and of all, power cuts of one member and of all, SIGTERM of the leader, SIGSTOP of a follower and of the leader, isolated leader,
// minority/majority split, one-way cut, bridge, remove and re-add), then:
// the history is linearizable, the cluster recovered after every fault, and
// all members hold the same content. And a control: the same pipeline, fed
// serializable reads from an isolated follower, must report a violation.
//
// DKV_CHAOS_SECONDS=600 runs random faults for that long per cluster size
// instead; DKV_CHAOS_SEED=N picks the seed (the schedule follows from it).
import { describe, expect, test } from "bun:test";
import { waitFor } from "../e2e/cluster.ts";
import { ChaosCluster } from "./cluster.ts";
import { describeOperation } from "./history.ts";
import { checkHistory, formatCheckResult } from "./linearizability.ts";
import { NamespaceNetwork } from "./netns.ts";
import { describeReport, runScenario, summarizeHistory } from "./scenario.ts";
import { Recorder } from "./workload.ts";

const SECONDS = Number(process.env.DKV_CHAOS_SECONDS ?? 0);
const SEED = process.env.DKV_CHAOS_SEED === undefined ? undefined : Number(process.env.DKV_CHAOS_SEED);
/** Setup, recovery waits and checking on top of the faults themselves. */
const OVERHEAD_MS = 120_000;
const timeoutMs = SECONDS > 0 ? SECONDS * 1000 * 1.5 + OVERHEAD_MS : OVERHEAD_MS;

async function chaos(size: number, defaultSeed: number): Promise<void> {
  const seed = SEED ?? defaultSeed;
  const report = await runScenario({ size, seed, ...(SECONDS > 0 ? { durationMs: SECONDS * 1000 } : {}) });
  console.log(`chaos ${size} members, seed ${seed}: ${(report.elapsedMs / 1000).toFixed(1)} s, ${report.schedule.length} faults, ${summarizeHistory(report.history)}`);
  if (report.failures.length > 0) throw new Error(describeReport(report));
  expect(report.check?.verdict).toBe("linearizable");
  // The faults must have been felt, or the run proved little.
  expect(report.history.filter((op) => op.status !== "ok").length).toBeGreaterThan(0);
}

describe("under faults, one at a time", () => {
  test("three members: the history stays linearizable and every member converges", () => chaos(3, 1), timeoutMs);

  test("five members: the history stays linearizable and every member converges", () => chaos(5, 2), timeoutMs);
});

describe("the checker on a real cluster", () => {
  test("serializable reads from an isolated follower are caught as stale", async () => {
    const network = await NamespaceNetwork.create(3);
    const cluster = new ChaosCluster(network);
    try {
      cluster.startAll();
      const leader = await cluster.waitForVoters(cluster.members, 30_000);
      const follower = cluster.members.find((m) => m !== leader)!;
      const recorder = new Recorder("serializable");
      const write = (value: string) => recorder.perform(1, cluster.endpoint(leader), "k", { kind: "set", value }, 2000);
      const readOnFollower = (into = recorder) => into.perform(2, cluster.endpoint(follower), "k", { kind: "get" }, 2000);
      expect((await write("v1")).status).toBe("ok");
      // Waiting reads stay out of the checked history: one made before the
      // follower applied v1 is itself stale, and would be the culprit found.
      const probes = new Recorder("serializable");
      await waitFor("the follower to apply v1", 10_000, async () => {
        const read = await readOnFollower(probes);
        return read.output?.kind === "get" && read.output.value === "v1";
      });
      await network.partition([follower.index], cluster.members.filter((m) => m !== follower).map((m) => m.index));
      expect((await write("v2")).status).toBe("ok");
      const stale = await readOnFollower();
      expect(stale.output).toEqual({ kind: "get", value: "v1" });

      const result = checkHistory(recorder.ops);
      const detail = `${formatCheckResult(result)}\n${recorder.ops.map((op) => describeOperation(op)).join("\n")}`;
      expect(result.verdict, detail).toBe("violation");
      expect(result.violations[0]!.reason, detail).toBe("stale-value");
      expect(result.violations[0]!.culprit, detail).toBe(stale);
    } finally {
      await cluster.stopAll();
      await network.destroy();
      cluster.removeData();
    }
  }, 60_000);
});
