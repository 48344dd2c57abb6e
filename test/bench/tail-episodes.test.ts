import { describe, expect, test } from "bun:test";
import { slowEpisodes } from "../../bench/compare/tail";

describe("bench tail: slow requests grouped into episodes", () => {
  test("overlapping slow requests form one episode; separate stalls form separate ones; fast requests are left out", () => {
    // 200 fast requests of 1 ms, then two stalls catching 2 and 1 requests.
    const starts: number[] = [];
    const latencies: number[] = [];
    for (let i = 0; i < 200; i++) {
      starts.push(i * 2);
      latencies.push(1);
    }
    starts.push(100, 105, 300);
    latencies.push(30, 40, 25);
    const { p99, slow, episodes } = slowEpisodes(starts, latencies);
    expect(p99).toBe(25);
    expect(slow).toBe(3);
    expect(episodes).toEqual([
      { startMs: 100, endMs: 145, requests: 2 },
      { startMs: 300, endMs: 325, requests: 1 },
    ]);
  });

  test("a slow request starting just after an episode ends (within 2 ms) still joins it", () => {
    const starts = [...Array.from({ length: 100 }, (_, i) => i), 10, 41];
    const latencies = [...Array.from({ length: 100 }, () => 1), 30, 30];
    const { episodes } = slowEpisodes(starts, latencies);
    expect(episodes).toEqual([{ startMs: 10, endMs: 71, requests: 2 }]);
  });
});
