// Majority arithmetic as table tests.
import { describe, expect, test } from "bun:test";
import { committedIndex, hasQuorum, quorumSize, voteResult } from "../../src/raft/quorum";

describe("quorum", () => {
  test("a quorum is a strict majority of voters", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(quorumSize)).toEqual([1, 2, 2, 3, 3, 4, 4]);
  });

  test("the committed index is the highest index held by a majority of voters", () => {
    const cases: Array<[Record<string, number>, number]> = [
      [{ a: 5 }, 5],
      [{ a: 5, b: 3 }, 3],
      [{ a: 5, b: 3, c: 1 }, 3],
      [{ a: 5, b: 5, c: 1, d: 1 }, 1],
      [{ a: 9, b: 7, c: 5, d: 3, e: 1 }, 5],
    ];
    for (const [matches, want] of cases) {
      expect(committedIndex(Object.keys(matches), (id) => matches[id] ?? 0)).toBe(want);
    }
  });

  test("a voter without progress counts as holding nothing; no voters commit nothing", () => {
    expect(committedIndex(["a", "b", "c"], (id) => (id === "a" ? 10 : 0))).toBe(0);
    expect(committedIndex([], () => 10)).toBe(0);
  });

  test("an election is won with a majority of grants, lost once a majority is out of reach, else pending", () => {
    const v = ["a", "b", "c", "d", "e"];
    const votes = (entries: Array<[string, boolean]>) => new Map(entries);
    expect(voteResult(v, votes([["a", true], ["b", true], ["c", true]]))).toBe("won");
    expect(voteResult(v, votes([["a", true], ["b", true], ["c", false]]))).toBe("pending");
    expect(voteResult(v, votes([["a", true], ["b", false], ["c", false], ["d", false]]))).toBe("lost");
    // Grants from non-voters (learners) are not counted.
    expect(voteResult(["a", "b", "c"], votes([["a", true], ["x", true], ["y", true]]))).toBe("pending");
  });

  test("hasQuorum counts only voters that acknowledged", () => {
    expect(hasQuorum(["a", "b", "c"], (id) => id === "a" || id === "c")).toBe(true);
    expect(hasQuorum(["a", "b", "c"], (id) => id === "a")).toBe(false);
    expect(hasQuorum([], () => true)).toBe(false);
  });
});
