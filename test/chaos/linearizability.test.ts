// The linearizability checker on hand-made histories: ones a correct store
// can produce must pass, ones it cannot must fail, and for the right reason
// (the culprit operation, the reason, and the operations in the window).
import { describe, expect, test } from "bun:test";
import { describeOperation, type Input, type Operation, type Output, type Value } from "./history.ts";
import { checkHistory, checkWindow, formatCheckResult, type CheckResult, type Violation } from "./linearizability.ts";
import { Prng } from "./prng.ts";

/** Builds a history; times are milliseconds, `null` means "absent". */
class History {
  readonly ops: Operation[] = [];

  private add(client: number, inv: number, ret: number, input: Input, status: Operation["status"], output?: Output, key = "k"): Operation {
    const op: Operation = { id: this.ops.length + 1, client, key, input, status, invokeMs: inv, completeMs: ret, ...(output ? { output } : {}) };
    this.ops.push(op);
    return op;
  }

  set(client: number, inv: number, ret: number, value: string, key?: string): Operation {
    return this.add(client, inv, ret, { kind: "set", value }, "ok", { kind: "set" }, key);
  }

  get(client: number, inv: number, ret: number, value: Value, key?: string): Operation {
    return this.add(client, inv, ret, { kind: "get" }, "ok", { kind: "get", value }, key);
  }

  del(client: number, inv: number, ret: number, key?: string): Operation {
    return this.add(client, inv, ret, { kind: "delete" }, "ok", { kind: "delete" }, key);
  }

  cas(client: number, inv: number, ret: number, expected: Value, value: Value, succeeded: boolean, previous?: Value): Operation {
    return this.add(client, inv, ret, { kind: "cas", expected, value }, "ok", { kind: "cas", succeeded, ...(previous !== undefined ? { previous } : {}) });
  }

  /** The client gave up at `gaveUp`: the write may take effect at any later time, or never. */
  unknownSet(client: number, inv: number, gaveUp: number, value: string): Operation {
    return this.add(client, inv, gaveUp, { kind: "set", value }, "unknown");
  }

  unknownCas(client: number, inv: number, gaveUp: number, expected: Value, value: Value): Operation {
    return this.add(client, inv, gaveUp, { kind: "cas", expected, value }, "unknown");
  }

  unknownDel(client: number, inv: number, gaveUp: number): Operation {
    return this.add(client, inv, gaveUp, { kind: "delete" }, "unknown");
  }

  failedSet(client: number, inv: number, ret: number, value: string): Operation {
    return this.add(client, inv, ret, { kind: "set", value }, "fail");
  }

  failedGet(client: number, inv: number, ret: number): Operation {
    return this.add(client, inv, ret, { kind: "get" }, "unknown");
  }
}

function expectLinearizable(h: History): CheckResult {
  const result = checkHistory(h.ops);
  if (result.verdict !== "linearizable") throw new Error(`expected linearizable, got:\n${formatCheckResult(result)}`);
  return result;
}

function expectViolation(h: History): Violation {
  const result = checkHistory(h.ops);
  if (result.verdict !== "violation") throw new Error(`expected a violation, got:\n${formatCheckResult(result)}`);
  expect(result.violations).toHaveLength(1);
  return result.violations[0]!;
}

const ids = (ops: Operation[]) => ops.map((op) => op.id).sort((a, b) => a - b);

describe("histories a correct register can produce are linearizable", () => {
  test("sequential set, get, delete, get", () => {
    const h = new History();
    h.get(1, 0, 1, null);
    h.set(1, 2, 3, "a");
    h.get(1, 4, 5, "a");
    h.del(1, 6, 7);
    h.get(1, 8, 9, null);
    expectLinearizable(h);
  });

  test("three concurrent writes may be seen in any of their six orders", () => {
    const values = ["a", "b", "c"];
    const orders = [
      [0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0],
    ];
    for (const order of orders) {
      const h = new History();
      values.forEach((v, i) => h.set(i + 1, 0, 100, v));
      order.forEach((i, n) => h.get(9, 10 + n * 10, 15 + n * 10, values[i]!));
      expectLinearizable(h);
    }
  });

  test("a read overlapping a write may see the old or the new value; two overlapping readers may differ", () => {
    const h = new History();
    h.set(1, 0, 10, "a");
    h.set(1, 20, 40, "b");
    h.get(2, 22, 30, "a");
    h.get(3, 24, 32, "b");
    h.get(2, 31, 38, "b");
    expectLinearizable(h);
  });

  test("compare-and-swap: success and failure, reporting the previous value", () => {
    const h = new History();
    h.set(1, 0, 10, "a");
    h.cas(1, 20, 30, "a", "b", true, "a");
    h.cas(1, 40, 50, "a", "c", false, "b");
    h.get(1, 60, 70, "b");
    h.cas(1, 80, 90, "b", null, true, "b");
    h.get(1, 100, 110, null);
    expectLinearizable(h);
  });

  test("two racing CASes on the same value: one wins, the loser sees the winner's value, whichever is acknowledged first", () => {
    const h = new History();
    h.set(1, 0, 10, "a");
    h.cas(2, 20, 60, "a", "x", true, "a");
    h.cas(3, 21, 40, "a", "y", false, "x");
    h.get(4, 70, 80, "x");
    expectLinearizable(h);
  });

  test("create-if-absent CAS (expected absent)", () => {
    const h = new History();
    h.cas(1, 0, 10, null, "a", true, null);
    h.cas(2, 20, 30, null, "b", false, "a");
    h.get(3, 40, 50, "a");
    expectLinearizable(h);
  });

  test("an indeterminate write that did happen, after the client gave up", () => {
    const h = new History();
    h.set(1, 0, 10, "a");
    h.unknownSet(2, 20, 30, "b");
    h.get(3, 40, 50, "a");
    h.get(3, 60, 70, "b");
    h.get(3, 80, 90, "b");
    expectLinearizable(h);
  });

  test("an indeterminate write that never happened", () => {
    const h = new History();
    h.set(1, 0, 10, "a");
    h.unknownSet(2, 20, 30, "b");
    h.get(3, 40, 50, "a");
    h.get(3, 1000, 1010, "a");
    expectLinearizable(h);
  });

  test("an indeterminate CAS and delete that took effect", () => {
    const h = new History();
    h.set(1, 0, 10, "a");
    h.unknownCas(2, 20, 30, "a", "b");
    h.get(3, 40, 50, "b");
    h.unknownDel(2, 60, 70);
    h.get(3, 80, 90, null);
    expectLinearizable(h);
  });

  test("a failed write is left out; so is a read that did not complete", () => {
    const h = new History();
    h.set(1, 0, 10, "a");
    h.failedSet(2, 20, 30, "b");
    h.failedGet(3, 25, 35);
    h.get(3, 40, 50, "a");
    expectLinearizable(h);
  });

  test("keys are independent: each is checked on its own", () => {
    const h = new History();
    h.set(1, 0, 10, "a", "x");
    h.set(2, 0, 10, "b", "y");
    h.get(1, 20, 30, "a", "x");
    h.get(2, 20, 30, "b", "y");
    const result = expectLinearizable(h);
    expect(result.keys.map((k) => k.key)).toEqual(["x", "y"]);
  });
});

describe("histories no correct register can produce are violations, for the right reason", () => {
  test("a stale read after a completed write", () => {
    const h = new History();
    const a = h.set(1, 0, 10, "a");
    const b = h.set(1, 20, 30, "b");
    const read = h.get(2, 40, 50, "a");
    const v = expectViolation(h);
    expect(v.reason).toBe("stale-value");
    expect(v.culprit).toBe(read);
    expect(ids(v.window)).toEqual(ids([b, read]));
    expect(ids(v.context)).toEqual([a.id]);
  });

  test("a read of a value never written", () => {
    const h = new History();
    h.set(1, 0, 10, "a");
    const read = h.get(2, 20, 30, "zzz");
    h.get(2, 40, 50, "a");
    const v = expectViolation(h);
    expect(v.reason).toBe("value-never-written");
    expect(v.culprit).toBe(read);
    expect(ids(v.window)).toEqual([read.id]);
  });

  test("two readers see two concurrent writes in opposite orders", () => {
    const h = new History();
    const a = h.set(1, 0, 100, "a");
    const b = h.set(2, 0, 100, "b");
    const r1 = h.get(3, 10, 20, "a");
    const r2 = h.get(3, 30, 40, "b");
    const r3 = h.get(4, 10, 20, "b");
    const r4 = h.get(4, 32, 42, "a");
    const v = expectViolation(h);
    expect(v.reason).toBe("no-valid-order");
    expect(v.culprit).toBe(r4);
    expect(ids(v.window)).toEqual(ids([a, b, r1, r2, r3, r4]));
  });

  test("a CAS that succeeds against a value that was no longer current", () => {
    const h = new History();
    const a = h.set(1, 0, 10, "a");
    const b = h.set(1, 20, 30, "b");
    const cas = h.cas(2, 40, 50, "a", "c", true, "a");
    const v = expectViolation(h);
    expect(v.reason).toBe("stale-value");
    expect(v.culprit).toBe(cas);
    expect(ids(v.window)).toEqual(ids([b, cas]));
    expect(ids(v.context)).toEqual([a.id]);
  });

  test("a CAS that succeeds against a stale value, previous value not reported", () => {
    const h = new History();
    h.set(1, 0, 10, "a");
    h.set(1, 20, 30, "b");
    const cas = h.cas(2, 40, 50, "a", "c", true);
    const v = expectViolation(h);
    expect(v.reason).toBe("stale-value");
    expect(v.culprit).toBe(cas);
  });

  test("a CAS that fails although the expected value was current", () => {
    const h = new History();
    const a = h.set(1, 0, 10, "a");
    const cas = h.cas(2, 20, 30, "a", "c", false, "a");
    const v = expectViolation(h);
    expect(v.reason).toBe("no-valid-order");
    expect(v.culprit).toBe(cas);
    expect(ids(v.window)).toEqual([cas.id]);
    expect(a.id).toBe(1);
  });

  test("a lost acknowledged write: the key reads absent afterwards", () => {
    const h = new History();
    const a = h.set(1, 0, 10, "a");
    const read = h.get(2, 20, 30, null);
    const v = expectViolation(h);
    expect(v.reason).toBe("stale-value");
    expect(v.culprit).toBe(read);
    expect(v.explanation).toContain(`#${a.id}`);
  });

  test("a lost acknowledged write: an older value comes back", () => {
    const h = new History();
    h.set(1, 0, 10, "a");
    const b = h.set(1, 20, 30, "b");
    h.get(2, 40, 50, "b");
    const read = h.get(2, 60, 70, "a");
    const v = expectViolation(h);
    expect(v.reason).toBe("stale-value");
    expect(v.culprit).toBe(read);
    expect(v.explanation).toContain(`#${b.id} replaced it`);
  });

  test("a value that an indeterminate write wrote reappears after it was overwritten", () => {
    const h = new History();
    const b = h.unknownSet(1, 0, 10, "b");
    const seen = h.get(2, 20, 30, "b");
    const c = h.set(3, 40, 50, "c");
    const read = h.get(2, 60, 70, "b");
    const v = expectViolation(h);
    expect(v.reason).toBe("stale-value");
    expect(v.culprit).toBe(read);
    expect(ids(v.window)).toEqual(ids([c, read]));
    expect(ids(v.context)).toEqual(ids([b]));
    expect(seen.id).toBe(2);
  });

  test("a write reported as failed (not applied) that was applied", () => {
    const h = new History();
    h.set(1, 0, 10, "a");
    const failed = h.failedSet(2, 20, 30, "b");
    const read = h.get(3, 40, 50, "b");
    const v = expectViolation(h);
    expect(v.reason).toBe("value-from-failed-write");
    expect(v.culprit).toBe(read);
    expect(ids(v.context)).toEqual([failed.id]);
  });

  test("a read that sees a write which had not begun", () => {
    const h = new History();
    const read = h.get(1, 0, 10, "a");
    h.set(2, 20, 30, "a");
    const v = expectViolation(h);
    expect(v.reason).toBe("value-from-the-future");
    expect(v.culprit).toBe(read);
  });

  test("a deleted value comes back", () => {
    const h = new History();
    h.set(1, 0, 10, "a");
    const del = h.del(1, 20, 30);
    const read = h.get(2, 40, 50, "a");
    const v = expectViolation(h);
    expect(v.reason).toBe("stale-value");
    expect(v.culprit).toBe(read);
    expect(ids(v.window)).toEqual(ids([del, read]));
  });

  test("only the broken key is reported, and the report names the key, the culprit and the window", () => {
    const h = new History();
    h.set(1, 0, 10, "fine", "good");
    h.get(2, 20, 30, "fine", "good");
    h.set(1, 0, 10, "a", "bad");
    h.get(2, 20, 30, null, "bad");
    const result = checkHistory(h.ops);
    expect(result.verdict).toBe("violation");
    expect(result.keys.find((k) => k.key === "good")!.verdict).toBe("linearizable");
    expect(result.violations.map((v) => v.key)).toEqual(["bad"]);
    const text = formatCheckResult(result);
    expect(text).toContain('violation on key "bad" (stale-value)');
    expect(text).toContain("<- cannot be linearized");
    expect(text).toContain("smallest failing window");
  });
});

describe("bounded search", () => {
  test("an exhausted budget answers unknown, and says so", () => {
    const h = new History();
    for (let i = 0; i < 12; i++) h.set(i, 0, 100, `v${i}`);
    for (let i = 0; i < 12; i++) h.get(20, 200 + i * 10, 205 + i * 10, `v${i}`);
    const result = checkHistory(h.ops, { stepBudgetPerKey: 50 });
    expect(result.verdict).toBe("unknown");
    expect(formatCheckResult(result)).toContain("budget");
  });

  test("a malformed operation is refused rather than judged", () => {
    const h = new History();
    h.set(1, 10, 5, "a");
    expect(() => checkHistory(h.ops)).toThrow("completes (5 ms) before it was invoked (10 ms)");
  });
});

/**
 * A true atomic register driven by sequential clients: each operation takes
 * effect at a random instant inside its interval. Some writes time out
 * (unknown; half of those never take effect), some reads fail.
 */
function simulate(seed: number, clientsCount: number, opsPerClient: number, keys: string[]): Operation[] {
  const prng = new Prng(seed);
  type Planned = { op: Operation; at: number; applies: boolean };
  const planned: Planned[] = [];
  let id = 1;
  for (let client = 1; client <= clientsCount; client++) {
    let now = prng.int(5);
    for (let n = 0; n < opsPerClient; n++) {
      const inv = now + prng.int(3);
      const ret = inv + 1 + prng.int(20);
      const key = keys[prng.int(keys.length)]!;
      const roll = prng.int(10);
      const input: Input =
        roll < 4 ? { kind: "get" } : roll < 7 ? { kind: "set", value: `c${client}-${n}` } : roll < 8 ? { kind: "delete" } : { kind: "cas", expected: null, value: `c${client}-${n}` };
      const timedOut = input.kind !== "get" && prng.int(10) === 0;
      const op: Operation = { id: id++, client, key, input, status: timedOut ? "unknown" : "ok", invokeMs: inv, completeMs: ret };
      planned.push({ op, at: inv + prng.next() * (ret - inv), applies: !timedOut || prng.int(2) === 0 });
      now = ret;
    }
  }
  // CAS expectations: the value the client last saw on that key (filled in as we go).
  const state = new Map<string, Value>();
  const lastSeen = new Map<string, Value>();
  for (const p of [...planned].sort((a, b) => a.at - b.at)) {
    const { op } = p;
    const current = state.get(op.key) ?? null;
    if (op.input.kind === "cas") op.input = { ...op.input, expected: lastSeen.get(`${op.client}/${op.key}`) ?? null };
    if (!p.applies) continue;
    switch (op.input.kind) {
      case "get":
        op.output = { kind: "get", value: current };
        lastSeen.set(`${op.client}/${op.key}`, current);
        break;
      case "set":
        state.set(op.key, op.input.value);
        break;
      case "delete":
        state.set(op.key, null);
        break;
      case "cas": {
        const swapped = current === op.input.expected;
        if (swapped) state.set(op.key, op.input.value);
        op.output = { kind: "cas", succeeded: swapped, previous: current };
        break;
      }
    }
    if (op.status === "ok" && !op.output) op.output = { kind: op.input.kind } as Output;
  }
  for (const p of planned) if (p.op.status === "unknown") delete p.op.output;
  // A tenth of the reads failed: recorded as unknown with no answer.
  for (const p of planned) if (p.op.input.kind === "get" && prng.int(10) === 0) {
    p.op.status = "unknown";
    delete p.op.output;
  }
  return planned.map((p) => p.op);
}

describe("generated histories", () => {
  test("many writes of unknown outcome, deletes among them, do not blow up the search of a linearizable history", { timeout: 60_000 }, () => {
    const history = simulate(31, 8, 400, ["a"]);
    const lost = history.filter((op) => op.input.kind !== "get");
    for (const op of lost.slice(0, 400)) {
      op.status = "unknown";
      delete op.output;
    }
    expect(history.filter((op) => op.input.kind === "delete" && op.status === "unknown").length).toBeGreaterThan(30);
    const result = checkHistory(history);
    if (result.verdict !== "linearizable") throw new Error(formatCheckResult(result));
    expect(result.keys[0]!.stepsCount).toBeLessThan(1_000_000);
  });

  test("histories of a true register with timeouts are linearizable, within a bounded search", { timeout: 60_000 }, () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const history = simulate(seed, 6, 500, ["a", "b", "c"]);
      const started = performance.now();
      const result = checkHistory(history);
      const elapsedMs = performance.now() - started;
      if (result.verdict !== "linearizable") throw new Error(`seed ${seed}:\n${formatCheckResult(result)}`);
      expect(elapsedMs).toBeLessThan(10_000);
    }
  });

  test("the same history is checked the same way every time (deterministic search)", () => {
    const history = simulate(7, 4, 300, ["a"]);
    const first = checkHistory(history).keys[0]!.stepsCount;
    expect(checkHistory(history).keys[0]!.stepsCount).toBe(first);
  });

  test("one corrupted read in a long history is found, and the window shrinks to that read", { timeout: 60_000 }, () => {
    for (const seed of [11, 12, 13]) {
      const history = simulate(seed, 6, 400, ["a", "b"]);
      const reads = history.filter((op) => op.status === "ok" && op.input.kind === "get");
      const victim = reads[Math.floor(reads.length / 2)]!;
      victim.output = { kind: "get", value: "corrupt" };
      const result = checkHistory(history);
      expect(result.verdict).toBe("violation");
      expect(result.violations).toHaveLength(1);
      const v = result.violations[0]!;
      expect(v.reason).toBe("value-never-written");
      expect(v.culprit).toBe(victim);
      // Operations that began before the window may overlap its start; inside it there is only the victim.
      expect(v.window.filter((op) => op.invokeMs >= v.windowStartMs)).toEqual([victim]);
      expect(v.window.length).toBeLessThanOrEqual(8);
    }
  });

  test("a read that misses an acknowledged write in a long history is found", { timeout: 60_000 }, () => {
    const history = simulate(21, 5, 300, ["a"]);
    // Append, after everything, a write and a later read that does not see it.
    const end = Math.max(...history.map((op) => op.completeMs)) + 100;
    const write: Operation = { id: 100_001, client: 99, key: "a", input: { kind: "set", value: "final" }, status: "ok", output: { kind: "set" }, invokeMs: end, completeMs: end + 5 };
    const old = history.find((op) => op.input.kind === "set" && op.status === "ok")!.input as { value: string };
    const read: Operation = { id: 100_002, client: 99, key: "a", input: { kind: "get" }, status: "ok", output: { kind: "get", value: old.value }, invokeMs: end + 10, completeMs: end + 15 };
    const result = checkHistory([...history, write, read]);
    expect(result.verdict).toBe("violation");
    const v = result.violations[0]!;
    expect(v.culprit).toBe(read);
    expect(v.reason).toBe("stale-value");
    expect(v.window).toContain(write);
  });
});

/** Tries every order (and every subset of the unknown writes): the definition, for tiny histories. */
function bruteForceLinearizable(ops: Operation[]): boolean {
  const live = ops.filter((op) => op.status !== "fail" && !(op.input.kind === "get" && op.status !== "ok"));
  const end = (op: Operation) => (op.status === "ok" ? op.completeMs : Infinity);
  const mustPrecede = (a: Operation, b: Operation) => end(a) < b.invokeMs;
  const placed = new Set<Operation>();
  const apply = (state: Value, op: Operation): Value | undefined => {
    const input = op.input;
    const output = op.output;
    if (input.kind === "set") return input.value;
    if (input.kind === "delete") return null;
    if (input.kind === "get") return output?.kind === "get" && output.value === state ? state : undefined;
    const matches = state === input.expected;
    if (output?.kind !== "cas") return matches ? input.value : state;
    if (output.previous !== undefined && output.previous !== state) return undefined;
    if (matches !== output.succeeded) return undefined;
    return matches ? input.value : state;
  };
  const extend = (state: Value): boolean => {
    if (live.every((op) => placed.has(op) || op.status !== "ok")) return true;
    for (const op of live) {
      if (placed.has(op)) continue;
      // Every operation not placed yet that must come first blocks it; a skipped unknown one never blocks.
      if (live.some((other) => other !== op && !placed.has(other) && other.status === "ok" && mustPrecede(other, op))) continue;
      const next = apply(state, op);
      if (next === undefined) continue;
      placed.add(op);
      const ok = extend(next);
      placed.delete(op);
      if (ok) return true;
    }
    return false;
  };
  return extend(null);
}

function randomHistory(prng: Prng, size: number, values: string[]): Operation[] {
  const value = (): Value => (prng.int(values.length + 1) === 0 ? null : prng.pick(values));
  const ops: Operation[] = [];
  for (let id = 1; id <= size; id++) {
    const invokeMs = prng.int(20);
    const completeMs = invokeMs + prng.int(8);
    const roll = prng.int(10);
    const status: Operation["status"] = roll < 7 ? "ok" : roll < 9 ? "unknown" : "fail";
    const kind = prng.pick(["get", "set", "delete", "cas"] as const);
    const op: Operation = { id, client: id, key: "k", input: { kind: "get" }, status, invokeMs, completeMs };
    if (kind === "get") {
      op.input = { kind: "get" };
      if (status === "ok") op.output = { kind: "get", value: value() };
    } else if (kind === "set") {
      op.input = { kind: "set", value: prng.pick(values) };
      if (status === "ok") op.output = { kind: "set" };
    } else if (kind === "delete") {
      op.input = { kind: "delete" };
      if (status === "ok") op.output = { kind: "delete" };
    } else {
      op.input = { kind: "cas", expected: value(), value: value() };
      if (status === "ok") op.output = { kind: "cas", succeeded: prng.int(2) === 0, ...(prng.int(3) > 0 ? { previous: value() } : {}) };
    }
    ops.push(op);
  }
  return ops;
}

describe("against the definition", () => {
  test("on thousands of tiny random histories, the checker agrees with trying every order", () => {
    const prng = new Prng(2024);
    let violations = 0;
    for (let i = 0; i < 4000; i++) {
      // Few values (repeats allowed) and unique ones: the reductions must hold either way.
      const values = i % 2 === 0 ? ["a", "b"] : ["a", "b", "c", "d", "e", "f", "g"];
      const history = randomHistory(prng, 2 + (i % 6), values);
      const expected = bruteForceLinearizable(history);
      const result = checkHistory(history);
      if ((result.verdict === "linearizable") !== expected || result.verdict === "unknown") {
        throw new Error(`history ${i}: checker says ${result.verdict}, trying every order says ${expected ? "linearizable" : "violation"}\n${history.map((op) => describeOperation(op)).join("\n")}`);
      }
      if (!expected) violations++;
    }
    // Both kinds were exercised in earnest.
    expect(violations).toBeGreaterThan(500);
    expect(violations).toBeLessThan(3500);
  }, 60_000);

  test("no window of a linearizable history is reported as a violation (shrinking only ever shows real failures)", () => {
    const prng = new Prng(77);
    let windows = 0;
    for (let i = 0; i < 1500; i++) {
      const history = randomHistory(prng, 2 + (i % 6), i % 2 === 0 ? ["a", "b"] : ["a", "b", "c", "d", "e", "f"]);
      if (!bruteForceLinearizable(history)) continue;
      const starts = [-Infinity, ...history.map((op) => op.invokeMs)];
      const ends = [Infinity, ...history.map((op) => op.completeMs)];
      for (const fromMs of starts) {
        for (const toMs of ends) {
          windows++;
          if (checkWindow(history, fromMs, toMs) === "violation") {
            throw new Error(`history ${i}: window [${fromMs}, ${toMs}] reported as a violation, but the history is linearizable\n${history.map((op) => describeOperation(op)).join("\n")}`);
          }
        }
      }
    }
    expect(windows).toBeGreaterThan(10_000);
  }, 60_000);
});
