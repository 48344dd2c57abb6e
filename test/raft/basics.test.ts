// End-to-end behaviour of small clusters driven through the public API.
import { describe, expect, test } from "bun:test";
import { MemoryStorage, Role } from "../../src/raft/index";
import { bytes, Cluster, seededPrng } from "./helpers";

describe("a cluster driven through RaftNode", () => {
  test("randomized election timeouts elect exactly one leader, and everyone follows it", () => {
    const c = new Cluster([]);
    const ids = ["a", "b", "c", "d", "e"];
    ids.forEach((id, i) => c.add(id, new MemoryStorage({ confState: { voters: ids, learners: [] } }), { prng: seededPrng(7 + i) }));
    for (let i = 0; i < 40; i++) c.tickAll();
    const leaders = c.leaders();
    expect(leaders.length).toBe(1);
    for (const id of ids) expect(c.node(id).status().leader).toBe(leaders[0]!);
    // term() is status().term without building the rest.
    for (const id of ids) expect(c.node(id).term()).toBe(c.node(id).status().term);
    expect(c.node(leaders[0]!).term()).toBeGreaterThan(1);
  });

  test("proposals on the leader are committed and applied on every member in order", () => {
    const c = new Cluster(["a", "b", "c"]);
    c.elect("a");
    for (let i = 0; i < 5; i++) c.node("a").propose(bytes(`v${i}`));
    c.settle();
    c.tickAll(2);
    for (const id of ["a", "b", "c"]) {
      expect(c.appliedData(id)).toEqual(["v0", "v1", "v2", "v3", "v4"]);
      expect(c.node(id).status().role).toBe(id === "a" ? Role.Leader : Role.Follower);
    }
  });
});
