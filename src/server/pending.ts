// Requests waiting for raft: proposals waiting for their entry to apply, and
// reads waiting for a read index to be confirmed and applied. Each waiter
// settles exactly once: with its result, or with an error that says whether
// the outcome is known.
import { NodeError } from "./contract.ts";
import type { CancelSignal } from "./cancel-signal.ts";
import { requestTimers } from "./request-timers.ts";

export interface Waiter<T> {
  resolve(value: T): void;
  reject(error: NodeError): void;
}

interface PendingProposal<T> extends Waiter<T> {
  term: number;
}

/** Proposals by raft index. An entry applied at that index with another term means ours was lost. */
export class PendingProposals<T> {
  private readonly byIndex = new Map<number, PendingProposal<T>>();

  get size(): number {
    return this.byIndex.size;
  }

  add(index: number, term: number, waiter: Waiter<T>): void {
    if (this.byIndex.has(index)) {
      // Only possible if raft handed out the same index twice in one term: a bug, not a user error.
      throw new Error(`two proposals waiting on index ${index}`);
    }
    this.byIndex.set(index, { resolve: waiter.resolve, reject: waiter.reject, term });
  }

  /** Settles the proposal at index, given the entry that was applied there. */
  applied(index: number, term: number, result: () => T): void {
    const waiter = this.byIndex.get(index);
    if (!waiter) return;
    this.byIndex.delete(index);
    if (waiter.term !== term) {
      waiter.reject(new NodeError("unavailable", "leadership changed before the write committed; it was not applied, retry"));
      return;
    }
    try {
      waiter.resolve(result());
    } catch (error) {
      waiter.reject(error instanceof NodeError ? error : new NodeError("internal", String(error)));
    }
  }

  /** Forget a waiter whose caller gave up (deadline or cancel). */
  drop(index: number): void {
    this.byIndex.delete(index);
  }

  rejectAll(error: NodeError): void {
    for (const waiter of this.byIndex.values()) waiter.reject(error);
    this.byIndex.clear();
  }
}

/** Runs `start` with a deadline; on timeout or abort, `onGiveUp` cleans up and the error says the outcome is unknown if asked. */
export function withDeadline<T>(
  timeoutMs: number,
  signal: CancelSignal | undefined,
  start: (waiter: Waiter<T>) => void,
  onGiveUp: () => void,
  timeoutMessage: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = () => {
      settled = true;
      requestTimers.cancel(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const onAbort = () => {
      if (settled) return;
      finish();
      onGiveUp();
      reject(new NodeError("deadline_exceeded", `request cancelled by the client; ${timeoutMessage}`));
    };
    const timer = requestTimers.schedule(timeoutMs, () => {
      if (settled) return;
      finish();
      onGiveUp();
      reject(new NodeError("deadline_exceeded", timeoutMessage));
    });
    if (signal?.aborted) return onAbort();
    signal?.addEventListener("abort", onAbort);
    start({
      resolve: (value) => {
        if (settled) return;
        finish();
        resolve(value);
      },
      reject: (error) => {
        if (settled) return;
        finish();
        reject(error);
      },
    });
  });
}
