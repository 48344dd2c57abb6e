// The event trace of one simulated run. Recording is off in bulk runs (for
// speed) and on when a seed is replayed, so a failure can be read event by
// event; the same seed always produces the same lines.

/** Lines kept when tracing; older ones are dropped (the end of a run is what matters). */
export const TRACE_LINES_MAX = 200_000;

export class Trace {
  private readonly lines: string[] = [];
  private droppedCount = 0;

  constructor(readonly enabled: boolean) {}

  /** `describe` is only called when tracing is on, so bulk runs pay nothing for formatting. */
  add(tick: number, describe: () => string): void {
    if (!this.enabled) return;
    if (this.lines.length >= TRACE_LINES_MAX) {
      this.lines.shift();
      this.droppedCount++;
    }
    this.lines.push(`t${tick} ${describe()}`);
  }

  all(): readonly string[] {
    return this.lines;
  }

  tail(count: number): string[] {
    const head = this.droppedCount > 0 ? [`... ${this.droppedCount} earlier lines dropped`] : [];
    return [...head, ...this.lines.slice(-count)];
  }
}
