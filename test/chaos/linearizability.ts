// Linearizability checker for a per-key register with get / set / delete /
// compare-and-swap. Each key is checked on its own (P-compositionality, as in
// Porcupine); per key it runs Wing & Gong's search with Lowe's just-in-time
// linearization, memoizing (linearized set, state) so a configuration is not
// explored again. It promises: "linearizable" and "violation" are exact (up
// to a 2^-96 hash collision chance per pair of configurations); when the step
// budget runs out it says "unknown" instead of running on. A violation comes
// with the smallest failing window it could find and a reason.
//
// Uncertain outcomes: an "unknown" write may take effect at any point after
// its invocation, or never (completion = +infinity); a "fail" operation never
// took effect and is left out; a read that did not complete observed nothing
// and is left out. Three exact reductions keep timeouts from exploding the
// search: unknown writes nobody observed are dropped, an unknown write whose
// unique value was observed is pinned before its first observer, and unknown
// deletes are only ever applied in invocation order, right before an
// operation that sees the key absent.
import { describeOperation, showValue, writtenValue, type Input, type Operation, type Output, type Value } from "./history.ts";
import { EventList, LinearizedSetHash } from "./search-structures.ts";

export const DEFAULT_STEP_BUDGET_PER_KEY = 2_000_000;

export type Verdict = "linearizable" | "violation" | "unknown";

export interface CheckOptions {
  /** Search steps allowed per key (and per shrinking probe); past it the key's verdict is "unknown". */
  stepBudgetPerKey?: number;
  /** Value of each key before the history starts; absent (null) unless given. */
  initialValues?: Record<string, Value>;
}

export interface KeyVerdict {
  key: string;
  verdict: Verdict;
  operationsCount: number;
  stepsCount: number;
}

export type ViolationReason =
  /** A read (or a CAS's "previous") saw a value no operation ever wrote to the key. */
  | "value-never-written"
  /** ... a value only an operation reported as failed (certainly not applied) wrote. */
  | "value-from-failed-write"
  /** ... a value whose write began only after the observer had completed. */
  | "value-from-the-future"
  /** ... a value that an acknowledged write had already replaced before the observer began (stale read, lost write). */
  | "stale-value"
  /** No single order of the operations explains what the clients saw (e.g. two readers disagree on the order of writes). */
  | "no-valid-order";

export interface Violation {
  key: string;
  reason: ViolationReason;
  explanation: string;
  /** The operation whose completion makes the history non-linearizable. */
  culprit: Operation;
  /** The operations of the smallest failing window found, in invocation order. */
  window: Operation[];
  windowStartMs: number;
  windowEndMs: number;
  /** Operations outside the window that the explanation refers to. */
  context: Operation[];
  /** Writes with unknown outcome, given up on before the window, that may still take effect inside it. */
  pendingUnknown: Operation[];
}

export interface CheckResult {
  verdict: Verdict;
  keys: KeyVerdict[];
  violations: Violation[];
}

/** Checks a whole history, key by key. */
export function checkHistory(history: readonly Operation[], options: CheckOptions = {}): CheckResult {
  for (const op of history) assertWellFormed(op);
  const budget = options.stepBudgetPerKey ?? DEFAULT_STEP_BUDGET_PER_KEY;
  const byKey = new Map<string, Operation[]>();
  for (const op of history) {
    const list = byKey.get(op.key) ?? [];
    list.push(op);
    byKey.set(op.key, list);
  }
  const keys: KeyVerdict[] = [];
  const violations: Violation[] = [];
  for (const [key, ops] of [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const initial = options.initialValues?.[key] ?? null;
    const outcome = searchWindow(ops, initial, FULL, budget);
    // Out of budget: a failing prefix or window, which is cheaper to search, still proves a violation.
    const violation = outcome.verdict === "linearizable" ? undefined : (shrink(key, ops, initial, budget) ?? (outcome.verdict === "violation" ? wholeHistory(key, ops) : undefined));
    keys.push({ key, verdict: violation ? "violation" : outcome.verdict, operationsCount: ops.length, stepsCount: outcome.steps });
    if (violation) violations.push(violation);
  }
  const verdict: Verdict = violations.length > 0 ? "violation" : keys.some((k) => k.verdict === "unknown") ? "unknown" : "linearizable";
  return { verdict, keys, violations };
}

/**
 * One key's history seen through the window [fromMs, toMs] as the shrinking
 * step sees it (start state unknown, edges made uncertain). Exported for
 * tests: a window of a linearizable history must never be a violation.
 */
export function checkWindow(ops: readonly Operation[], fromMs: number, toMs: number, options: CheckOptions = {}): Verdict {
  const key = ops[0]?.key ?? "";
  if (ops.some((op) => op.key !== key)) throw new Error("checkWindow takes the operations of one key");
  return searchWindow(ops, options.initialValues?.[key] ?? null, { fromMs, toMs }, options.stepBudgetPerKey ?? DEFAULT_STEP_BUDGET_PER_KEY).verdict;
}

/** A recording bug must not pass as a verdict about the server. */
function assertWellFormed(op: Operation): void {
  const where = `operation #${op.id} (client ${op.client}, key ${JSON.stringify(op.key)})`;
  if (!(op.invokeMs <= op.completeMs)) throw new Error(`${where} completes (${op.completeMs} ms) before it was invoked (${op.invokeMs} ms)`);
  if ((op.status === "ok") !== (op.output !== undefined)) throw new Error(`${where} has status ${op.status} but ${op.output ? "an" : "no"} output`);
  if (op.output && op.output.kind !== op.input.kind) throw new Error(`${where} is a ${op.input.kind} with a ${op.output.kind} output`);
}

// ---- the search ----

/** The register's state; ANY stands for "some value current at the window start" (see Window). */
const ANY = Symbol("any");
type State = Value | typeof ANY;
const ILLEGAL = Symbol("illegal");

interface SearchOp {
  source: Operation;
  input: Input;
  /** undefined: outcome unknown. */
  output: Output | undefined;
  invokeMs: number;
  /** Infinity when the outcome is unknown. */
  completeMs: number;
  /**
   * Straddles the start of a window: it may have taken effect before the
   * window opened (then its effect is part of the unknown start state and it
   * is skipped), or inside it, before completeMs, with its recorded output.
   */
  optional?: boolean;
}

/** What the history looks like through a time window [fromMs, toMs]; the full history is (-∞, +∞). */
interface Window {
  fromMs: number;
  toMs: number;
}

const FULL: Window = { fromMs: -Infinity, toMs: Infinity };

interface SearchOutcome {
  verdict: Verdict;
  steps: number;
}

function searchWindow(ops: readonly Operation[], initial: Value, window: Window, budget: number): SearchOutcome {
  const prepared = dropUnobservedUnknownWrites(throughWindow(effectiveOps(ops), window));
  const start: State = window.fromMs === -Infinity ? initial : ANY;
  const allowed = start === ANY ? valuesPossiblyCurrentAt(ops, initial, window, prepared) : new Set<Value>();
  return search(prepared, start, allowed, budget);
}

/**
 * What the search needs of each operation: failed ones and reads without an
 * answer are gone; an unknown write whose value (written by it alone) some
 * completed operation observed certainly took effect before that observer
 * completed, so it is treated as acknowledged then (a CAS as having swapped).
 * That keeps every valid order and removes the branching it would cause.
 */
function effectiveOps(ops: readonly Operation[]): SearchOp[] {
  const writersCount = new Map<string, number>();
  const firstObservedMs = new Map<Value, number>();
  for (const op of ops) {
    const value = writtenValue(op.input);
    if (value !== undefined && op.status !== "fail") writersCount.set(value, (writersCount.get(value) ?? 0) + 1);
    const seen = op.status === "ok" ? observedBefore(op) : undefined;
    if (seen) firstObservedMs.set(seen.value, Math.min(firstObservedMs.get(seen.value) ?? Infinity, op.completeMs));
  }
  const result: SearchOp[] = [];
  for (const op of ops) {
    if (op.status === "fail") continue;
    if (op.status === "ok") {
      result.push({ source: op, input: op.input, output: op.output, invokeMs: op.invokeMs, completeMs: op.completeMs });
      continue;
    }
    if (op.input.kind === "get") continue;
    const value = writtenValue(op.input);
    const observedMs = value === undefined || writersCount.get(value) !== 1 ? undefined : firstObservedMs.get(value);
    if (observedMs === undefined || observedMs < op.invokeMs) {
      result.push({ source: op, input: op.input, output: undefined, invokeMs: op.invokeMs, completeMs: Infinity });
      continue;
    }
    const output: Output = op.input.kind === "cas" ? { kind: "cas", succeeded: true, previous: op.input.expected } : { kind: "set" };
    result.push({ source: op, input: op.input, output, invokeMs: op.invokeMs, completeMs: observedMs });
  }
  return result;
}

/**
 * The operations as seen through the window [fromMs, toMs]. One that
 * completed before the window opened is gone (its effect is in the unknown
 * start state). One that completes after it closes is pending at its end:
 * a read is dropped, a write becomes unknown (prefix closure). One that began
 * before the window and completes inside it becomes optional: it took effect
 * either before the window (skipped) or inside it, as recorded.
 */
function throughWindow(ops: SearchOp[], window: Window): SearchOp[] {
  if (window.fromMs === -Infinity && window.toMs === Infinity) return ops;
  const result: SearchOp[] = [];
  for (const op of ops) {
    if (op.invokeMs > window.toMs) continue;
    if (op.completeMs < window.fromMs) continue;
    if (op.output === undefined || op.completeMs > window.toMs) {
      if (op.input.kind !== "get") result.push({ ...op, output: undefined, completeMs: Infinity, optional: false });
    } else {
      result.push({ ...op, optional: op.invokeMs < window.fromMs });
    }
  }
  return result;
}

/**
 * An unknown write of a value nobody observed can be left out: in any
 * linearization that applies it, nothing reads its value before the next
 * blind write replaces it, so the same order without it (and with unknown
 * CASes in between moved to the end) is also valid. This removes most of the
 * branching timeouts cause. It relies on every completed CAS reporting the
 * previous value; without that, nothing is dropped.
 */
function dropUnobservedUnknownWrites(ops: SearchOp[]): SearchOp[] {
  const observed = new Set<Value>();
  for (const op of ops) {
    if (op.output?.kind === "get") observed.add(op.output.value);
    if (op.input.kind === "cas") {
      observed.add(op.input.expected);
      if (op.output?.kind === "cas") {
        if (op.output.previous === undefined) return ops;
        observed.add(op.output.previous);
      }
    }
  }
  return ops.filter((op) => {
    if (op.output !== undefined) return true;
    const value = writtenValue(op.input);
    return value === undefined || observed.has(value);
  });
}

/**
 * Values the key can hold when the window opens: the initial value, or one
 * written by an operation invoked before then (a failed one never wrote),
 * plus what unknown CASes inside the window may swap in while the state is
 * still unresolved.
 */
function valuesPossiblyCurrentAt(ops: readonly Operation[], initial: Value, window: Window, prepared: SearchOp[]): Set<Value> {
  const allowed = new Set<Value>([initial]);
  for (const op of ops) {
    if (op.status === "fail" || op.invokeMs >= window.fromMs) continue;
    addWrittenState(allowed, op.input);
  }
  for (const op of prepared) if (op.output === undefined && op.input.kind === "cas") addWrittenState(allowed, op.input);
  return allowed;
}

function addWrittenState(into: Set<Value>, input: Input): void {
  if (input.kind === "set") into.add(input.value);
  else if (input.kind === "delete") into.add(null);
  else if (input.kind === "cas") into.add(input.value);
}

/** The register's sequential specification: the state after `op`, or ILLEGAL if `op` could not have seen `state`. */
function step(state: State, op: SearchOp, allowed: Set<Value>): State | typeof ILLEGAL {
  const input = op.input;
  const output = op.output;
  switch (input.kind) {
    case "set":
      return input.value;
    case "delete":
      return null;
    case "get": {
      const seen = (output as Extract<Output, { kind: "get" }>).value;
      if (state === ANY) return allowed.has(seen) ? seen : ILLEGAL;
      return state === seen ? state : ILLEGAL;
    }
    case "cas":
      return output === undefined ? stepUnknownCas(state, input) : stepKnownCas(state, input, output as Extract<Output, { kind: "cas" }>, allowed);
  }
}

function stepUnknownCas(state: State, input: Extract<Input, { kind: "cas" }>): State {
  // From ANY the outcome is open either way; `allowed` already includes input.value.
  if (state === ANY) return ANY;
  return state === input.expected ? input.value : state;
}

function stepKnownCas(state: State, input: Extract<Input, { kind: "cas" }>, output: Extract<Output, { kind: "cas" }>, allowed: Set<Value>): State | typeof ILLEGAL {
  let before: State = state;
  if (before === ANY) {
    if (output.previous !== undefined) before = output.previous;
    else if (output.succeeded) before = input.expected;
    else return ANY; // failed, previous not reported: still some value other than expected
    if (!allowed.has(before)) return ILLEGAL;
  }
  if (output.previous !== undefined && output.previous !== before) return ILLEGAL;
  const matches = before === input.expected;
  if (matches !== output.succeeded) return ILLEGAL;
  return matches ? input.value : before;
}

function stateKey(state: State): string {
  if (state === ANY) return "\u0002";
  return state === null ? "\u0001" : `=${state}`;
}

/**
 * Wing & Gong / Lowe: walk the time-ordered list of call and return events;
 * linearize a call whose effect is legal and whose (linearized set, state) is
 * new, lifting it (and its return) out of the list; meeting the return of an
 * operation not yet linearized means every call before it was tried: skip
 * it if it is optional, or else undo the last choice and try what comes
 * after it. Success once every operation with a known completion is
 * linearized (the unknown ones left can always go at the end, i.e. never
 * happen).
 */
function search(ops: SearchOp[], initial: State, allowed: Set<Value>, budget: number): SearchOutcome {
  const s = new SearchState(ops, initial);
  let steps = 0;
  let event = s.list.first();
  // Each call is tried as it is, then (once that is undone) after the next unknown delete.
  let afterDelete = false;
  for (;;) {
    if (s.definiteLeft === 0) return { verdict: "linearizable", steps };
    if (++steps > budget) return { verdict: "unknown", steps };
    if (s.list.isCall(event)) {
      const opIndex = s.list.opOf(event);
      const op = s.listed[opIndex]!;
      if (!afterDelete) {
        const next = step(s.state, op, allowed);
        if (next !== ILLEGAL && s.tryLinearize(opIndex, next, false)) {
          event = s.list.first();
          continue;
        }
      }
      afterDelete = false;
      if (s.mayDeleteBefore(event)) {
        const next = step(null, op, allowed);
        if (next !== ILLEGAL && s.tryLinearize(opIndex, next, true)) {
          event = s.list.first();
          continue;
        }
      }
      event = s.list.next(event);
      continue;
    }
    if (s.trySkipOptional(event)) {
      event = s.list.first();
      continue;
    }
    const resume = s.backtrack();
    if (!resume) return { verdict: "violation", steps };
    ({ event, afterDelete } = resume);
  }
}

/**
 * Unknown deletes are interchangeable (each sets the key absent and reports
 * nothing), and one only matters right before an operation that sees the key
 * absent: anything else in between would either see "absent" too or replace
 * the value blindly. So a valid order that uses some of them can be rewritten
 * to use the earliest-invoked ones, in invocation order, each immediately
 * before an operation that can see "absent". The search offers exactly that
 * move ("the next unknown delete, then this operation") and nothing else:
 * k pending deletes cost k+1 configurations at most, not 2^k.
 */
function isUnknownDelete(op: SearchOp): boolean {
  return op.input.kind === "delete" && op.output === undefined;
}

/** Whether the operation can see (or needs) the key absent. */
function mayObserveAbsent(op: SearchOp): boolean {
  const output = op.output;
  if (output?.kind === "get") return output.value === null;
  if (op.input.kind !== "cas") return false;
  if (output?.kind !== "cas") return op.input.expected === null;
  if (output.previous !== undefined) return output.previous === null;
  // Previous not reported: a swap saw `expected`; a refusal saw anything else, absent included.
  return output.succeeded ? op.input.expected === null : op.input.expected !== null;
}

interface Frame {
  opIndex: number;
  /** undefined: the operation was skipped (optional, before the window). */
  state: State | undefined;
  usedDelete: boolean;
}

/** The search's mutable state and its moves, each undone by backtrack(). */
class SearchState {
  readonly listed: SearchOp[];
  readonly list: EventList;
  private readonly deletes: SearchOp[];
  private readonly hash: LinearizedSetHash;
  private readonly memo = new Memo();
  private readonly stack: Frame[] = [];
  state: State;
  definiteLeft: number;
  private deletesUsed = 0;

  constructor(ops: SearchOp[], initial: State) {
    this.listed = ops.filter((op) => !isUnknownDelete(op));
    this.deletes = ops.filter(isUnknownDelete).sort((a, b) => a.invokeMs - b.invokeMs || a.source.id - b.source.id);
    this.list = new EventList(this.listed);
    this.hash = new LinearizedSetHash(this.listed.length);
    this.state = initial;
    this.definiteLeft = this.listed.filter((op) => op.completeMs !== Infinity).length;
  }

  /** Linearizes the operation behind `opIndex` (after the next unknown delete if `usedDelete`), unless that configuration was seen. */
  tryLinearize(opIndex: number, next: State, usedDelete: boolean): boolean {
    const deletesUsed = this.deletesUsed + (usedDelete ? 1 : 0);
    this.hash.toggle(opIndex);
    if (!this.memo.visit(this.hash.text(), next, deletesUsed)) {
      this.hash.toggle(opIndex);
      return false;
    }
    this.stack.push({ opIndex, state: this.state, usedDelete });
    this.state = next;
    this.deletesUsed = deletesUsed;
    this.list.lift(this.list.callOf(opIndex));
    if (this.listed[opIndex]!.completeMs !== Infinity) this.definiteLeft--;
    return true;
  }

  /** Whether the next unknown delete could take effect right before the call at `event`. */
  mayDeleteBefore(event: number): boolean {
    const next = this.deletes[this.deletesUsed];
    if (!next || this.state === null) return false;
    if (!mayObserveAbsent(this.listed[this.list.opOf(event)]!)) return false;
    // It must fit before the earliest completion still ahead (the first return in the list).
    let e = event;
    while (this.list.isCall(e)) e = this.list.next(e);
    return next.invokeMs <= this.list.timeOf(e);
  }

  /** At the return event of an optional operation: it took effect before the window. */
  trySkipOptional(returnEvent: number): boolean {
    const opIndex = this.list.opOf(returnEvent);
    if (!this.listed[opIndex]!.optional) return false;
    this.hash.toggle(opIndex);
    if (!this.memo.visit(this.hash.text(), this.state, this.deletesUsed)) {
      this.hash.toggle(opIndex);
      return false;
    }
    this.stack.push({ opIndex, state: undefined, usedDelete: false });
    this.list.lift(this.list.callOf(opIndex));
    this.definiteLeft--;
    return true;
  }

  /** Undoes moves until one leaves an alternative; says where to continue, or undefined when nothing is left. */
  backtrack(): { event: number; afterDelete: boolean } | undefined {
    for (;;) {
      const frame = this.stack.pop();
      if (!frame) return undefined;
      const call = this.list.callOf(frame.opIndex);
      this.hash.toggle(frame.opIndex);
      this.list.unlift(call);
      if (this.listed[frame.opIndex]!.completeMs !== Infinity) this.definiteLeft++;
      // A skip was the last thing to try at its return: keep undoing.
      if (frame.state === undefined) continue;
      this.state = frame.state;
      if (!frame.usedDelete) return { event: call, afterDelete: true }; // same call, after the next unknown delete
      this.deletesUsed--;
      return { event: this.list.next(call), afterDelete: false };
    }
  }
}

/**
 * Configurations already explored: (linearized set, state) -> fewest unknown
 * deletes used. A configuration that used more of them than one already seen
 * can do nothing the other could not (the other still has every delete it
 * has, and earlier ones), so it is pruned.
 */
class Memo {
  private readonly fewestDeletes = new Map<string, number>();

  /** True if the configuration is new (or uses fewer deletes than any like it seen), and records it. */
  visit(linearized: string, state: State, unknownDeletesUsed: number): boolean {
    const key = `${linearized}|${stateKey(state)}`;
    const fewest = this.fewestDeletes.get(key);
    if (fewest !== undefined && fewest <= unknownDeletesUsed) return false;
    this.fewestDeletes.set(key, unknownDeletesUsed);
    return true;
  }
}

// ---- shrinking a violation to a small window, and saying why ----

/**
 * Linearizability is prefix-closed (pending operations made unknown), so the
 * earliest completion time t1 whose prefix fails is found by bisection; the
 * operation completing at t1 is the culprit. Then the latest start t0 whose
 * window [t0, t1] still fails (state at t0 unknown, straddlers made unknown)
 * is bisected the same way. Each window failing implies the history fails.
 */
function shrink(key: string, ops: readonly Operation[], initial: Value, budget: number): Violation | undefined {
  const fails = (window: Window) => searchWindow(ops, initial, window, budget).verdict === "violation";
  const ends = uniqueSorted(ops.filter((op) => op.status === "ok").map((op) => op.completeMs));
  const endIndex = firstIndex(ends.length, (i) => fails({ fromMs: -Infinity, toMs: ends[i]! }));
  if (endIndex === ends.length) return undefined;
  const toMs = ends[endIndex]!;
  const culprit = ops.find((op) => op.status === "ok" && op.completeMs === toMs)!;
  const starts = uniqueSorted(ops.filter((op) => op.invokeMs <= culprit.invokeMs).map((op) => op.invokeMs));
  // Latest failing start: bisect over "start i does NOT fail" from the end.
  const reversed = [...starts].reverse();
  const startIndex = firstIndex(reversed.length, (i) => fails({ fromMs: reversed[i]!, toMs }));
  const fromMs = reversed[startIndex] ?? -Infinity;
  // The window as the search saw it; unknown writes whose client gave up before it opened are listed apart.
  const used = dropUnobservedUnknownWrites(throughWindow(effectiveOps(ops), { fromMs, toMs }))
    .map((op) => op.source)
    .sort((a, b) => a.invokeMs - b.invokeMs || a.id - b.id);
  const earlier = (op: Operation) => op.status !== "ok" && op.completeMs < fromMs;
  const window = used.filter((op) => !earlier(op));
  const why = explain(culprit, ops);
  return {
    key,
    reason: why.reason,
    explanation: why.text,
    culprit,
    window,
    windowStartMs: fromMs === -Infinity ? ops.reduce((min, op) => Math.min(min, op.invokeMs), Infinity) : fromMs,
    windowEndMs: toMs,
    context: why.context.filter((op) => !window.includes(op)),
    pendingUnknown: used.filter(earlier),
  };
}

/** The whole key history as the window, when no smaller one could be searched within the budget. */
function wholeHistory(key: string, ops: readonly Operation[]): Violation {
  const sorted = [...ops].sort((a, b) => a.invokeMs - b.invokeMs || a.id - b.id);
  const culprit = sorted.filter((op) => op.status === "ok").reduce((last, op) => (op.completeMs > last.completeMs ? op : last), sorted[0]!);
  return {
    key,
    reason: "no-valid-order",
    explanation: "no order of these operations is consistent with one copy of the key (no smaller failing window could be searched within the budget)",
    culprit,
    window: sorted,
    windowStartMs: sorted[0]!.invokeMs,
    windowEndMs: culprit.completeMs,
    context: [],
    pendingUnknown: [],
  };
}

function uniqueSorted(values: number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/** Smallest i in [0, n) with pred(i), assuming pred is monotone; n if none. */
function firstIndex(n: number, pred: (i: number) => boolean): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pred(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** What the culprit claims the key held just before it, if it observed anything. */
function observedBefore(op: Operation): { value: Value } | undefined {
  const output = op.output;
  if (output?.kind === "get") return { value: output.value };
  if (output?.kind === "cas" && op.input.kind === "cas") {
    if (output.previous !== undefined) return { value: output.previous };
    if (output.succeeded) return { value: op.input.expected };
  }
  return undefined;
}

function explain(culprit: Operation, ops: readonly Operation[]): { reason: ViolationReason; text: string; context: Operation[] } {
  const observed = observedBefore(culprit);
  const fallback = {
    reason: "no-valid-order" as const,
    text: `no order of these operations is consistent with one copy of key ${JSON.stringify(culprit.key)}: #${culprit.id} cannot be placed`,
    context: [] as Operation[],
  };
  if (!observed) return fallback;
  const value = observed.value;
  const what = `#${culprit.id} saw ${showValue(value)}`;
  if (value !== null) {
    const writers = ops.filter((op) => writtenValue(op.input) === value);
    if (writers.length === 0) return { reason: "value-never-written", text: `${what}, which no operation ever wrote to this key`, context: [] };
    const live = writers.filter((op) => op.status !== "fail");
    if (live.length === 0) {
      return { reason: "value-from-failed-write", text: `${what}, which only #${writers.map((w) => w.id).join(", #")} wrote, and the server said that was NOT applied`, context: writers };
    }
    if (live.every((w) => w.invokeMs > culprit.completeMs)) {
      return { reason: "value-from-the-future", text: `${what} before the write of that value (#${live[0]!.id}) had even begun`, context: live };
    }
    const stale = live.length === 1 ? overwriteOf(live[0]!, culprit, ops) : undefined;
    if (stale) {
      return {
        reason: "stale-value",
        text: `${what}, written by #${live[0]!.id}; but #${stale.id} replaced it and was acknowledged before #${culprit.id} began`,
        context: [live[0]!, stale],
      };
    }
    return fallback;
  }
  const lost = lostWriteBefore(culprit, ops);
  if (lost) {
    return {
      reason: "stale-value",
      text: `${what}; but #${lost.id} wrote ${showValue(writtenValue(lost.input))} and was acknowledged before #${culprit.id} began, and no delete could have come in between (lost or stale write)`,
      context: [lost],
    };
  }
  return fallback;
}

/** An acknowledged write that certainly came after `writer` and completed before `observer` began. */
function overwriteOf(writer: Operation, observer: Operation, ops: readonly Operation[]): Operation | undefined {
  const writtenBy = effectiveCompleteMs(writer, ops);
  return ops.find(
    (op) => op !== writer && changesValue(op) && writtenValue(op.input) !== writtenValue(writer.input) && op.invokeMs > writtenBy && op.completeMs < observer.invokeMs,
  );
}

/** When a write certainly had taken effect: its acknowledgement, or the first completed observation of its (unique) value. */
function effectiveCompleteMs(writer: Operation, ops: readonly Operation[]): number {
  let by = writer.status === "ok" ? writer.completeMs : Infinity;
  const value = writtenValue(writer.input);
  for (const op of ops) {
    if (op.status === "ok" && op !== writer && value !== undefined && observedBefore(op)?.value === value) by = Math.min(by, op.completeMs);
  }
  return by;
}

/** For an observer that saw "absent": an acknowledged value write before it with no possible delete in between. */
function lostWriteBefore(observer: Operation, ops: readonly Operation[]): Operation | undefined {
  const deleters = ops.filter((op) => op.status !== "fail" && (op.input.kind === "delete" || (op.input.kind === "cas" && op.input.value === null)));
  return ops.find(
    (op) =>
      changesValue(op) &&
      writtenValue(op.input) !== undefined &&
      op.completeMs < observer.invokeMs &&
      deleters.every((d) => (d.status === "ok" && d.completeMs < op.invokeMs) || d.invokeMs > observer.completeMs),
  );
}

/** An acknowledged operation that certainly changed the value: set, delete, or a CAS that swapped. */
function changesValue(op: Operation): boolean {
  if (op.status !== "ok") return false;
  if (op.input.kind === "set" || op.input.kind === "delete") return true;
  return op.output?.kind === "cas" && op.output.succeeded;
}

/** A readable report of one violation. */
export function formatViolation(violation: Violation, originMs = 0): string {
  const lines = [
    `linearizability violation on key ${JSON.stringify(violation.key)} (${violation.reason})`,
    `  ${violation.explanation}`,
    `  smallest failing window: ${(violation.windowStartMs - originMs).toFixed(1)} ms .. ${(violation.windowEndMs - originMs).toFixed(1)} ms, ${violation.window.length} operation(s):`,
    ...violation.window.map((op) => `    ${describeOperation(op, originMs)}${op === violation.culprit ? "   <- cannot be linearized" : ""}`),
  ];
  if (violation.pendingUnknown.length > 0) {
    const shown = violation.pendingUnknown.slice(0, 10).map((op) => `#${op.id}`);
    const more = violation.pendingUnknown.length > 10 ? `, ... (${violation.pendingUnknown.length} in all)` : "";
    lines.push(`  plus earlier writes with unknown outcome that may take effect in the window: ${shown.join(", ")}${more}`);
  }
  if (violation.context.length > 0) {
    lines.push("  referred to, outside the window:");
    for (const op of violation.context) lines.push(`    ${describeOperation(op, originMs)}`);
  }
  return lines.join("\n");
}

/** A one-paragraph summary of a whole check: verdict per key and every violation. */
export function formatCheckResult(result: CheckResult, originMs = 0): string {
  const lines = [`verdict: ${result.verdict}`];
  for (const k of result.keys) lines.push(`  key ${JSON.stringify(k.key)}: ${k.verdict} (${k.operationsCount} operations, ${k.stepsCount} search steps)`);
  for (const v of result.violations) lines.push(formatViolation(v, originMs));
  if (result.verdict === "unknown") lines.push("  unknown = the search budget was exhausted before an answer; raise stepBudgetPerKey or shorten the run");
  return lines.join("\n");
}
