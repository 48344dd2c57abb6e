// The seeded generator the raft core draws its election jitter from.
// (The core may not touch Math.random; the seed comes from outside.)
import type { Prng } from "../raft/index.ts";

/** mulberry32: tiny, fast, and plenty for timeout jitter. */
export function createSeededPrng(seed: number): Prng {
  let state = seed >>> 0;
  return {
    nextInt(n: number): number {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      const r = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      return Math.floor(r * n);
    },
  };
}
