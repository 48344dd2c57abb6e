// How a request in progress learns it was cancelled (client gone, deadline,
// shutdown). The paths through the node read only this much of a signal, so
// a DOM AbortSignal (from connect-es's stock handler) is one, and so is
// Cancellation: a plain object, which the lean path makes per call instead of
// an AbortController (see request-timers.ts for why native objects per call
// are worth avoiding).

export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: "abort", listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

export class Cancellation implements CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  private listeners: (() => void)[] | undefined;

  addEventListener(_type: "abort", listener: () => void): void {
    // Like AbortSignal: a listener added after the abort is not called.
    if (this.aborted) return;
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    const listeners = this.listeners;
    if (listeners === undefined) return;
    const at = listeners.lastIndexOf(listener);
    if (at >= 0) listeners.splice(at, 1);
  }

  /** Fires the listeners once, in the order they were added; later calls do nothing. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners === undefined) return;
    for (const listener of listeners) {
      try {
        listener();
      } catch (error) {
        // As with EventTarget: one throwing listener does not stop the others.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
