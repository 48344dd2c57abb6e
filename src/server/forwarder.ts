// A follower's side of forwarding: hands a request to the leader over the
// peer network and waits for the leader's answer. A request is sent at most
// once: if the leader may have received it and no answer comes, the caller
// learns the outcome is unknown, never a silent retry.
import { create } from "@bufbuild/protobuf";
import { ForwardRequestSchema, type ForwardResponse } from "../gen/dkv/raft/v1/raft_pb.ts";
import { NodeError, WriteOutcomeUnknown, type ErrorCode } from "./contract.ts";
import type { PeerNetwork } from "./peer-network.ts";
import { withDeadline, type Waiter } from "./pending.ts";
import type { CancelSignal } from "./cancel-signal.ts";

export type ForwardKind = "propose" | "conf_change" | "ping" | "lease_ttl" | "lease_keep_alive";

export class Forwarder {
  private nextRequestId = 1n;
  private readonly waiting = new Map<bigint, Waiter<ForwardResponse> & { kind: ForwardKind }>();

  constructor(
    private readonly network: PeerNetwork,
    private readonly observeRoundTrip: (seconds: number) => void,
  ) {}

  /** Sends one request to `leader`; resolves with the leader's answer or rejects with a NodeError. */
  send(leader: string, kind: ForwardKind, command: Uint8Array, timeoutMs: number, signal?: CancelSignal): Promise<ForwardResponse> {
    const requestId = this.nextRequestId++;
    const started = performance.now();
    return withDeadline<ForwardResponse>(
      timeoutMs,
      signal,
      (waiter) => {
        const request = create(ForwardRequestSchema, { requestId, kind, command, timeoutMs: Math.max(1, Math.round(timeoutMs - 50)) });
        if (!this.network.sendForwardRequest(leader, request)) {
          waiter.reject(new NodeError("unavailable", `cannot reach the leader ${leader}; the request was not sent, retry`));
          return;
        }
        this.waiting.set(requestId, {
          resolve: (response) => {
            this.observeRoundTrip((performance.now() - started) / 1000);
            waiter.resolve(response);
          },
          reject: waiter.reject,
          kind,
        });
      },
      () => this.waiting.delete(requestId),
      kind === "ping" || kind === "lease_ttl" || kind === "lease_keep_alive"
        ? `member ${leader} did not answer in time`
        : `no answer from the leader ${leader} in time; the outcome of the request is unknown (it may still be applied)`,
    );
  }

  /** An answer arrived; unknown or late ids are ignored (their caller already gave up). */
  deliver(response: ForwardResponse): void {
    const waiter = this.waiting.get(response.requestId);
    if (!waiter) return;
    this.waiting.delete(response.requestId);
    if (response.errorCode) waiter.reject(new NodeError(response.errorCode as ErrorCode, response.errorMessage));
    else waiter.resolve(response);
  }

  /** Ends every wait: a write passed on may still commit at the leader, so its caller is told the outcome is open. */
  failAll(message: string): void {
    for (const waiter of this.waiting.values()) {
      const mayBeApplied = waiter.kind === "propose" || waiter.kind === "conf_change";
      waiter.reject(mayBeApplied ? new WriteOutcomeUnknown() : new NodeError("unavailable", message));
    }
    this.waiting.clear();
  }
}
