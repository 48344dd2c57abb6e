// The cancellation signal of each call on the lean unary path: it fires on
// the call's deadline (Connect-Timeout-Ms), when the client goes away, or
// when the server shuts down. connect-es links every call's controller to the
// shared shutdown signal with a listener of its own; with hundreds of calls
// in flight, adding and removing those listeners scans the whole list each
// time (11% of the leader's CPU at 64 clients in bench/compare's profile).
// Here the shutdown signal has one listener, which aborts the calls in a set.
import { Code, ConnectError } from "@connectrpc/connect";
import { getAbortSignalReason } from "@connectrpc/connect/protocol";

export interface ActiveCall {
  readonly signal: AbortSignal;
}

interface CallState extends ActiveCall {
  controller: AbortController;
  timer: ReturnType<typeof setTimeout> | undefined;
  clientSignal: AbortSignal | undefined;
  onClientAbort: (() => void) | undefined;
}

export class ActiveCalls {
  private readonly calls = new Set<CallState>();

  constructor(private readonly shutdownSignal: AbortSignal) {
    shutdownSignal.addEventListener(
      "abort",
      () => {
        for (const call of this.calls) abortWith(call.controller, getAbortSignalReason(shutdownSignal));
      },
      { once: true },
    );
  }

  get size(): number {
    return this.calls.size;
  }

  /** A call that ends after timeoutMs (none if undefined) or when clientSignal fires; pass it to end() when done. */
  begin(timeoutMs: number | undefined, clientSignal: AbortSignal | undefined): ActiveCall {
    const controller = new AbortController();
    const call: CallState = { controller, signal: controller.signal, timer: undefined, clientSignal, onClientAbort: undefined };
    if (this.shutdownSignal.aborted) {
      abortWith(controller, getAbortSignalReason(this.shutdownSignal));
      return call;
    }
    if (timeoutMs !== undefined) {
      const onTimeout = (): void => abortWith(controller, new ConnectError("the operation timed out", Code.DeadlineExceeded));
      if (timeoutMs <= 0) onTimeout();
      else call.timer = setTimeout(onTimeout, timeoutMs);
    }
    if (clientSignal !== undefined) {
      if (clientSignal.aborted) {
        abortWith(controller, getAbortSignalReason(clientSignal));
      } else {
        call.onClientAbort = () => abortWith(controller, getAbortSignalReason(clientSignal));
        clientSignal.addEventListener("abort", call.onClientAbort, { once: true });
      }
    }
    this.calls.add(call);
    return call;
  }

  /** Ends the wait of a call in progress with `reason`, as a fired client signal would. */
  cancel(handle: ActiveCall, reason: unknown): void {
    abortWith((handle as CallState).controller, reason);
  }

  end(handle: ActiveCall): void {
    const call = handle as CallState;
    if (call.timer !== undefined) clearTimeout(call.timer);
    if (call.onClientAbort !== undefined) call.clientSignal?.removeEventListener("abort", call.onClientAbort);
    this.calls.delete(call);
  }
}

function abortWith(controller: AbortController, reason: unknown): void {
  if (!controller.signal.aborted) controller.abort(reason);
}
