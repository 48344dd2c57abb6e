// ReadIndex bookkeeping on the leader (dissertation §6.4): each request records
// the commit index when it arrived; it is released once a quorum has answered a
// heartbeat carrying its context (or a later one's), in arrival order.

import type { NodeId } from "./types";
import { assert } from "./util";

/** Reads waiting for leadership confirmation on one leader. */
export const MAX_PENDING_READS = 8192;

export interface ReadRequest {
  /** Who asked: the leader itself or a follower that forwarded the read. */
  from: NodeId;
  context: Uint8Array;
  /** Commit index when the request arrived: the read point. */
  index: number;
  acks: Set<NodeId>;
}

/** Contexts are compared by value; a latin1 string of the bytes is the map key. */
export function contextKey(context: Uint8Array): string {
  let key = "";
  for (let i = 0; i < context.length; i++) key += String.fromCharCode(context[i]!);
  return key;
}

export class ReadOnly {
  private readonly byKey = new Map<string, ReadRequest>();
  private queue: string[] = [];

  get size(): number {
    return this.queue.length;
  }

  /** Returns false when a request with the same context is already pending. */
  add(request: ReadRequest): boolean {
    const key = contextKey(request.context);
    if (this.byKey.has(key)) return false;
    assert(this.queue.length < MAX_PENDING_READS, `more than ${MAX_PENDING_READS} reads pending`);
    this.byKey.set(key, request);
    this.queue.push(key);
    return true;
  }

  /** Context of the newest pending read: heartbeats carry it. */
  lastContext(): Uint8Array | undefined {
    const key = this.queue[this.queue.length - 1];
    return key === undefined ? undefined : this.byKey.get(key)!.context;
  }

  /** Record an ack for the request with this context; returns its ack set, if pending. */
  recvAck(from: NodeId, context: Uint8Array): Set<NodeId> | undefined {
    const request = this.byKey.get(contextKey(context));
    if (!request) return undefined;
    request.acks.add(from);
    return request.acks;
  }

  /**
   * Release the request with this context and every request queued before it
   * (an ack for a later heartbeat confirms leadership for earlier reads too).
   */
  advance(context: Uint8Array): ReadRequest[] {
    const key = contextKey(context);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const released = this.queue.slice(0, at + 1).map((k) => {
      const r = this.byKey.get(k)!;
      this.byKey.delete(k);
      return r;
    });
    this.queue = this.queue.slice(at + 1);
    return released;
  }

  clear(): void {
    this.byKey.clear();
    this.queue = [];
  }
}
