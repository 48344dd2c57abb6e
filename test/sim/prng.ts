// The simulation's only source of randomness: xoshiro128** seeded through
// splitmix32. The same seed gives the same sequence on every machine, so a
// seed replays a whole simulated run exactly. Math.random is never used.

import type { Prng } from "../../src/raft/types";

const UINT32_RANGE = 0x1_0000_0000;

/** One splitmix32 step: spreads a small or regular seed over all 32 bits. */
function splitmix32(state: number): { state: number; value: number } {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return { state: next, value: z >>> 0 };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

export class SimPrng implements Prng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed >= UINT32_RANGE) {
      throw new Error(`SimPrng seed must be an integer in [0, 2^32), got ${seed}`);
    }
    let mix = splitmix32(seed);
    this.s0 = mix.value;
    mix = splitmix32(mix.state);
    this.s1 = mix.value;
    mix = splitmix32(mix.state);
    this.s2 = mix.value;
    mix = splitmix32(mix.state);
    this.s3 = mix.value;
    // xoshiro's all-zero state is a fixed point; splitmix never yields four zeros, but say so.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) throw new Error("SimPrng: all-zero state");
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** An integer in [0, n), without modulo bias. */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > UINT32_RANGE) {
      throw new Error(`SimPrng.nextInt: n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = UINT32_RANGE - (UINT32_RANGE % n);
    // Rejection sampling ends with probability >= 1/2 per draw; 64 draws bound it.
    for (let attempt = 0; attempt < 64; attempt++) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
    return this.nextU32() % n;
  }

  /** An integer in [lo, hi] inclusive. */
  between(lo: number, hi: number): number {
    if (hi < lo) throw new Error(`SimPrng.between: empty range [${lo}, ${hi}]`);
    return lo + this.nextInt(hi - lo + 1);
  }

  /** True with probability perMillion / 1,000,000 (integers keep runs exact). */
  chance(perMillion: number): boolean {
    if (perMillion <= 0) return false;
    if (perMillion >= 1_000_000) return true;
    return this.nextInt(1_000_000) < perMillion;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("SimPrng.pick: empty list");
    return items[this.nextInt(items.length)] as T;
  }

  /** Fisher-Yates, in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  /** An independent generator derived from this one (e.g. one per node). */
  fork(): SimPrng {
    return new SimPrng(this.nextU32());
  }
}

/** A fresh 32-bit seed for a human-started exploration (the only non-simulated randomness). */
export function seedFromEntropy(): number {
  const buf = new Uint32Array(1);
  crypto.getRandomValues(buf);
  return buf[0] as number;
}
