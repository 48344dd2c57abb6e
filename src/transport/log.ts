// Logging for the transport: the node passes its logger; conditions that
// repeat (a peer still down, a queue still overflowing) are summarised at
// most once per interval instead of flooding the log.

export interface TransportLogger {
  info(message: string): void;
  warn(message: string): void;
}

export const consoleLogger: TransportLogger = {
  info: (message) => console.error(`dkv transport: ${message}`),
  warn: (message) => console.error(`dkv transport: warning: ${message}`),
};

/**
 * Lets `burst` lines through per window of `intervalMs`; the rest are counted
 * and the count is attached to the first line of a later window.
 */
export class RepeatLimiter {
  private windowStartMs = Number.NEGATIVE_INFINITY;
  private linesInWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly burst = 1,
  ) {}

  /** Returns the line to log now (with the number suppressed before it), or undefined to stay quiet. */
  note(line: string): string | undefined {
    const nowMs = performance.now();
    if (nowMs - this.windowStartMs >= this.intervalMs) {
      this.windowStartMs = nowMs;
      this.linesInWindow = 0;
    }
    if (this.linesInWindow >= this.burst) {
      this.suppressed++;
      return undefined;
    }
    this.linesInWindow++;
    const text = this.suppressed > 0 ? `${line} (${this.suppressed} similar suppressed before this)` : line;
    this.suppressed = 0;
    return text;
  }

  reset(): void {
    this.windowStartMs = Number.NEGATIVE_INFINITY;
    this.linesInWindow = 0;
    this.suppressed = 0;
  }
}

/**
 * Sums dropped frames over a tick (a burst of sends drops many at once) and
 * reports the total through a RepeatLimiter, so the log says "dropped 5904",
 * not "dropped 1" followed by silence.
 */
export class DropReporter {
  private pending = 0;
  private reason = "";
  private scheduled = false;
  private readonly limiter: RepeatLimiter;

  constructor(
    private readonly subject: string,
    private readonly logger: TransportLogger,
    intervalMs: number,
  ) {
    this.limiter = new RepeatLimiter(intervalMs);
  }

  note(frames: number, reason: string): void {
    this.pending += frames;
    this.reason = reason;
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      const line = this.limiter.note(`dropped ${this.pending} frame(s) ${this.subject}: ${this.reason}`);
      // Suppressed drops stay in `pending` and are reported with the next line.
      if (line !== undefined) {
        this.logger.warn(line);
        this.pending = 0;
      }
    });
  }
}
