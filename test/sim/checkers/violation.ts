// A broken property of the cluster. Checkers throw it; the simulation stops at
// the first one and reports the seed that reproduces it.

export type Property =
  | "election safety"
  | "log matching"
  | "leader completeness"
  | "state machine safety"
  | "leader append-only"
  /** A leader commits only what a majority of voters has persisted. */
  | "commit quorum"
  | "read freshness"
  | "liveness"
  /** A node's membership is what its applied entries say; a leader removed from the voters steps down. */
  | "membership"
  /** An entry applied before its commit index is durable here is durable here (and, on a leader, on a majority). */
  | "apply before durable"
  /** Term and vote are durable before any message that depends on them is sent. */
  | "persist before send"
  /** The core kept the Ready contract (what it hands out is consistent with what it persisted). */
  | "driver contract";

export class Violation extends Error {
  constructor(
    readonly property: Property,
    readonly detail: string,
  ) {
    super(`${property} violated: ${detail}`);
    this.name = "Violation";
  }
}
