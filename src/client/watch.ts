// One watch stream on one endpoint, opened far enough to know it is in place
// (its first message arrived), then handed to the caller. The stream gets a
// controller of its own: the attempt's signal only covers the opening, and
// the caller's signal ends the stream whenever it fires.
import { Event_Type, type WatchResponse } from "../gen/dkv/v1/kv_pb.ts";
import { fromHeader, fromKeyValue } from "./convert.ts";
import type { EndpointClients } from "./transport.ts";
import type { WatchBatch } from "./types.ts";

export interface OpenWatch {
  first: WatchBatch;
  rest: AsyncIterator<WatchResponse>;
  /** Ends the stream (idempotent). */
  close(): void;
}

/** What one attempt of a watch asks a member for. */
export interface WatchRequestShape {
  key: string;
  prefix: boolean;
  startRevision: number;
  prevKv: boolean;
  rangeEnd: string;
  noPut: boolean;
  noDelete: boolean;
}

export async function openWatch(
  clients: EndpointClients,
  request: WatchRequestShape,
  attemptSignal: AbortSignal,
  callerSignal: AbortSignal | undefined,
): Promise<OpenWatch> {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  attemptSignal.addEventListener("abort", abort);
  callerSignal?.addEventListener("abort", abort);
  const close = (): void => {
    callerSignal?.removeEventListener("abort", abort);
    controller.abort();
  };
  try {
    const stream = clients.kv.watch(
      { ...request, startRevision: BigInt(request.startRevision) },
      { signal: controller.signal },
    );
    const rest = stream[Symbol.asyncIterator]();
    const first = await rest.next();
    if (first.done) throw new Error("the watch stream ended before it was in place");
    return { first: toBatch(first.value), rest, close };
  } catch (error) {
    close();
    throw error;
  } finally {
    attemptSignal.removeEventListener("abort", abort);
  }
}

export function toBatch(response: WatchResponse): WatchBatch {
  return {
    header: fromHeader(response.header),
    events: response.events.map((event) => ({
      type: event.type === Event_Type.DELETE ? "delete" : "put",
      kv: event.kv ? fromKeyValue(event.kv) : { key: "", value: new Uint8Array(0), createRevision: 0, modRevision: 0, version: 0, lease: 0 },
      ...(event.prevKv ? { prevKv: fromKeyValue(event.prevKv) } : {}),
    })),
  };
}
