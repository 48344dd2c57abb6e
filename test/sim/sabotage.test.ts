// End-to-end proof that the simulator's checkers bite: with a deliberately
// broken driver, some of the first seeds must fail with the right property.
// (Hand-made states for each checker are in checkers.test.ts.)

import { describe, expect, test } from "bun:test";
import type { Sabotage } from "./driver";
import { runSimulation } from "./simulation";

/** Seeds tried per sabotage before concluding the checkers missed it. */
const SEEDS_TRIED_MAX = 400;

function firstFailure(sabotage: Sabotage): { seed: number; property: string; message: string } | undefined {
  for (let seed = 1; seed <= SEEDS_TRIED_MAX; seed++) {
    const result = runSimulation(seed, { trace: false, sabotage });
    if (result.failure !== undefined && result.failure.property !== "crash") {
      return { seed, property: result.failure.property, message: result.failure.message };
    }
  }
  return undefined;
}

describe("the simulator catches a broken driver", () => {
  test("a node that forgets its vote in a crash is caught voting twice in a term", () => {
    const found = firstFailure("forget_vote_on_crash");
    expect(found?.property).toBe("election safety");
  }, 120_000);

  test("a node that answers reads before applying up to the read index is caught serving stale data", () => {
    const found = firstFailure("serve_reads_early");
    expect(found?.property).toBe("read freshness");
  }, 120_000);

  test("a node that applies committed entries before they are durable on it is caught", () => {
    const found = firstFailure("apply_before_durable");
    expect(found?.property).toBe("apply before durable");
  }, 120_000);
});
