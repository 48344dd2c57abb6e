// Cancellation for calls into the node. The node is handed the signal and
// should stop waiting itself; racing the signal here as well means a deadline
// or a departed client is honoured even by a node call that ignores it.
import type { ConnectError } from "@connectrpc/connect";
import { abortReasonToConnectError } from "./errors.js";
import type { CancelSignal } from "../server/cancel-signal.js";

/** Rejects with the abort reason (as a ConnectError) as soon as `signal` fires, else settles like `work`. */
export function untilAborted<T>(signal: CancelSignal, work: Promise<T>): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {}); // the result no longer matters; do not leak an unhandled rejection
    return Promise.reject(abortReasonToConnectError(signal.reason));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReasonToConnectError(signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

/** Throws the abort reason if `signal` already fired: work that has not started should not start. */
export function throwIfAborted(signal: CancelSignal): void {
  if (signal.aborted) throw abortReasonToConnectError(signal.reason) satisfies ConnectError;
}
