// The terms of the whole uncompacted log, kept in memory as runs (first index
// of each term): a raft log has one run per leader that wrote to it, so this is
// tiny, and term(index) never touches SQLite.

import { assert } from "./errors";

export class TermRuns {
  /** starts[i] is the first index written in terms[i]; both ascend strictly. */
  private starts: number[] = [];
  private terms: number[] = [];
  /** Last index covered (0 when empty). */
  private lastIndex = 0;

  /** Rebuilds from (term, first index) pairs in ascending order, covering up to lastIndex. */
  static fromRuns(runs: readonly { term: number; start: number }[], lastIndex: number): TermRuns {
    const result = new TermRuns();
    for (const run of runs) {
      const previous = result.terms[result.terms.length - 1];
      assert(previous === undefined || run.term > previous, `log terms go backwards at index ${run.start}: ${run.term} after ${previous}`);
      result.starts.push(run.start);
      result.terms.push(run.term);
    }
    result.lastIndex = runs.length === 0 ? 0 : lastIndex;
    return result;
  }

  /** Term of `index`, which the caller knows is in the log. */
  termAt(index: number): number {
    assert(this.starts.length > 0 && index >= this.starts[0]! && index <= this.lastIndex, `term of ${index} asked outside the cached log`);
    // Most lookups are for the newest entries: check the last run first.
    const lastRun = this.starts.length - 1;
    if (index >= this.starts[lastRun]!) return this.terms[lastRun]!;
    let lo = 0;
    let hi = lastRun;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= index) lo = mid;
      else hi = mid - 1;
    }
    return this.terms[lo]!;
  }

  /** Forget indexes >= index (a conflicting suffix is being replaced). */
  truncateFrom(index: number): void {
    while (this.starts.length > 0 && this.starts[this.starts.length - 1]! >= index) {
      this.starts.pop();
      this.terms.pop();
    }
    this.lastIndex = this.starts.length === 0 ? 0 : Math.min(this.lastIndex, index - 1);
  }

  /** Record that `index` (the next one) has `term`. */
  append(index: number, term: number): void {
    assert(this.starts.length === 0 || index === this.lastIndex + 1, `term runs: append at ${index} after ${this.lastIndex}`);
    const lastTerm = this.terms[this.terms.length - 1];
    if (lastTerm !== term) {
      assert(lastTerm === undefined || term > lastTerm, `log term goes backwards at index ${index}: ${term} after ${lastTerm}`);
      this.starts.push(index);
      this.terms.push(term);
    }
    this.lastIndex = index;
  }

  /** Forget indexes below firstIndex (compacted away). */
  compactTo(firstIndex: number): void {
    if (firstIndex > this.lastIndex) {
      this.starts = [];
      this.terms = [];
      this.lastIndex = 0;
      return;
    }
    let drop = 0;
    while (drop + 1 < this.starts.length && this.starts[drop + 1]! <= firstIndex) drop++;
    if (drop > 0) {
      this.starts.splice(0, drop);
      this.terms.splice(0, drop);
    }
    this.starts[0] = Math.max(this.starts[0]!, firstIndex);
  }
}
