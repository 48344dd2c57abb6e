// The cancellation signal of each call on the lean unary path: it fires on
// the call's deadline (Connect-Timeout-Ms), when the client goes away, or
// when the server shuts down. connect-es links every call's controller to the
// shared shutdown signal with a listener of its own; with hundreds of calls
// in flight, adding and removing those listeners scans the whole list each
// time (11% of the leader's CPU at 64 clients in bench/compare's profile).
// Here the shutdown signal has one listener, which aborts the calls in a set.
// Each call's signal is a plain Cancellation and its deadline sits on the
// shared request timer wheel: no native object per call (request-timers.ts).
// For the same reason the client's own signal gets a listener only once a
// call has run for CLIENT_WATCH_DELAY_MS: a listener on a native AbortSignal
// is a weak reference the collector must process, and most calls end sooner.
// One sweep every CLIENT_WATCH_DELAY_MS finds those calls (a call seen by two
// sweeps is watched), rather than a timer per call: scheduling and cancelling
// one on the timer wheel was ~1 µs of every call (bench/api/layers.ts profile).
import { Code, ConnectError } from "@connectrpc/connect";
import { getAbortSignalReason } from "@connectrpc/connect/protocol";
import { Cancellation, type CancelSignal } from "../server/cancel-signal.js";
import { requestTimers, type RequestTimer } from "../server/request-timers.js";

export interface ActiveCall {
  readonly signal: CancelSignal;
}

/** How long a call runs at least before its client's signal is watched (at most twice that; a client gone sooner is noticed then). */
export const CLIENT_WATCH_DELAY_MS = 50;

interface CallState extends ActiveCall {
  cancellation: Cancellation;
  timer: RequestTimer | undefined;
  clientSignal: AbortSignal | undefined;
  /** The sweep saw this call once with its client unwatched; the next one starts the watch. */
  seenBySweep: boolean;
  onClientAbort: (() => void) | undefined;
}

export class ActiveCalls {
  private readonly calls = new Set<CallState>();
  private sweepTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly shutdownSignal: AbortSignal,
    private readonly clientWatchDelayMs = CLIENT_WATCH_DELAY_MS,
  ) {
    shutdownSignal.addEventListener(
      "abort",
      () => {
        for (const call of this.calls) call.cancellation.abort(getAbortSignalReason(shutdownSignal));
      },
      { once: true },
    );
  }

  get size(): number {
    return this.calls.size;
  }

  /** A call that ends after timeoutMs (none if undefined) or when clientSignal fires; pass it to end() when done. */
  begin(timeoutMs: number | undefined, clientSignal: AbortSignal | undefined): ActiveCall {
    const cancellation = new Cancellation();
    const call: CallState = { cancellation, signal: cancellation, timer: undefined, clientSignal, seenBySweep: false, onClientAbort: undefined };
    if (this.shutdownSignal.aborted) {
      cancellation.abort(getAbortSignalReason(this.shutdownSignal));
      return call;
    }
    if (timeoutMs !== undefined) {
      const onTimeout = (): void => cancellation.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
      if (timeoutMs <= 0) onTimeout();
      else call.timer = requestTimers.schedule(timeoutMs, onTimeout);
    }
    if (clientSignal !== undefined) {
      if (this.clientWatchDelayMs <= 0) this.watchClient(call, clientSignal);
      else if (clientSignal.aborted) cancellation.abort(getAbortSignalReason(clientSignal));
      else if (this.sweepTimer === undefined) this.armSweep();
    }
    this.calls.add(call);
    return call;
  }

  private armSweep(): void {
    this.sweepTimer = setTimeout(() => this.sweep(), this.clientWatchDelayMs);
    this.sweepTimer.unref?.();
  }

  /** Watches the clients of calls the previous sweep saw; re-arms while some client is not watched yet. */
  private sweep(): void {
    this.sweepTimer = undefined;
    let unwatched = false;
    for (const call of this.calls) {
      if (call.clientSignal === undefined || call.onClientAbort !== undefined || call.cancellation.aborted) continue;
      if (call.seenBySweep) this.watchClient(call, call.clientSignal);
      else {
        call.seenBySweep = true;
        unwatched = true;
      }
    }
    if (unwatched) this.armSweep();
  }

  private watchClient(call: CallState, clientSignal: AbortSignal): void {
    if (clientSignal.aborted) {
      call.cancellation.abort(getAbortSignalReason(clientSignal));
      return;
    }
    call.onClientAbort = () => call.cancellation.abort(getAbortSignalReason(clientSignal));
    clientSignal.addEventListener("abort", call.onClientAbort, { once: true });
  }

  /** Ends the wait of a call in progress with `reason`, as a fired client signal would. */
  cancel(handle: ActiveCall, reason: unknown): void {
    (handle as CallState).cancellation.abort(reason);
  }

  end(handle: ActiveCall): void {
    const call = handle as CallState;
    if (call.timer !== undefined) requestTimers.cancel(call.timer);
    if (call.onClientAbort !== undefined) call.clientSignal?.removeEventListener("abort", call.onClientAbort);
    this.calls.delete(call);
  }
}
