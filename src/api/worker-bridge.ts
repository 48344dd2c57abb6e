// The raft thread's side of the API worker (http-worker.ts): starts it, runs
// the calls it hands over on the same handlers the in-thread server uses, and
// sends the answers back packed, once per event-loop turn.
import { Code, ConnectError } from "@connectrpc/connect";
import { checkReadBody, type LeanUnaryAnswer, type LeanUnaryCall } from "./lean-unary.js";
import { ApiServerError } from "./options.js";
import { Packer, unpackCalls, type ForwardedRequest, type PackedCall, type ToRaftThread, type ToWorker, type WorkerConfig } from "./worker-protocol.js";

export interface WorkerHandlers {
  /** Lean unary calls by route (WorkerConfig.unaryPaths order). */
  unary: LeanUnaryCall[];
  /** Everything else: the whole router, probes and 404 included. */
  fetch(request: Request): Promise<Response>;
  log(line: string): void;
  /** An error Bun.serve caught in the worker (it answered 500). */
  onUnhandled(): void;
  /** The worker ended without stop() (a fault): the client port is closed. */
  onExit(reason: string): void;
}

export interface ApiWorker {
  readonly hostname: string;
  readonly port: number;
  /** The thread itself (tests end it to see onExit). */
  readonly thread: Worker;
  /** Stops accepting, lets calls finish for graceMs, then runs cancelCalls and closes every connection. */
  stop(graceMs: number, cancelCalls: () => void): Promise<void>;
  /** Serves new handshakes with this certificate; rejects (the old one still serving) if the worker could not. */
  replaceTls(tls: WorkerConfig["tls"]): Promise<void>;
}

/** Streamed response bodies (Snapshot, gRPC-Web) go to the worker a chunk per pull; the rest whole. */
const STREAMED_CONTENT_TYPE = /^application\/(connect\+|grpc-web)/i;

/**
 * Where the worker's code is: next to this file when run from source. A
 * compiled binary holds only what its one entry point imports, so there the
 * worker runs that entry point, src/cli/main.ts, which imports
 * http-worker.ts when it is not on the main thread.
 */
function workerEntry(): string {
  if (import.meta.url.startsWith("file:///$bunfs/")) return Bun.main;
  return new URL("./http-worker.ts", import.meta.url).href;
}

export async function startApiWorker(config: WorkerConfig, handlers: WorkerHandlers): Promise<ApiWorker> {
  const worker = new Worker(workerEntry());
  const post = (message: ToWorker, transfer?: ArrayBuffer[]): void => worker.postMessage(message, transfer ?? []);
  const answers = new Packer();
  let answersScheduled = false;
  /** Cancels a call in flight when its client goes away. */
  const cancels = new Map<number, () => void>();
  const streams = new Map<number, { read(): Promise<{ done: boolean; value?: Uint8Array }>; cancel(): Promise<void> }>();
  let started: { resolve(address: { hostname: string; port: number }): void; reject(error: Error): void } | undefined;
  let drained: (() => void) | undefined;
  let stopped: (() => void) | undefined;
  let tlsReplaced: ((error: string | null) => void) | undefined;

  const flushAnswers = (): void => {
    answersScheduled = false;
    if (answers.count === 0) return;
    const packed = answers.take();
    post({ type: "answers", packed }, [packed.buffer]);
  };

  const runCall = (call: PackedCall): void => {
    const unary = handlers.unary[call.route];
    if (unary === undefined) return;
    void unary({
      contentType: call.contentType,
      timeout: call.timeout,
      protocolVersion: call.protocolVersion,
      authorization: call.authorization,
      signal: undefined,
      onCancel: (cancel) => cancels.set(call.id, cancel),
      readBody: async (readMaxBytes) => checkReadBody(call.overLimit ? null : call.body, call.contentLength, readMaxBytes),
    })
      .catch((error: unknown): LeanUnaryAnswer => {
        // The lean path turns every error into an answer; this is a fault of its own.
        handlers.log(`api: a call from the API worker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        return { status: 500, contentType: "application/json", body: new TextEncoder().encode('{"code":"internal","message":"internal error"}') };
      })
      .then((answer) => {
        cancels.delete(call.id);
        let headers: string | null = null;
        if (answer.headers !== undefined) headers = JSON.stringify([...answer.headers]);
        answers.answer({ id: call.id, status: answer.status, contentType: answer.contentType, headers, body: answer.body });
        if (!answersScheduled) {
          answersScheduled = true;
          setImmediate(flushAnswers);
        }
      });
  };

  const runRequest = async (message: ForwardedRequest): Promise<void> => {
    const controller = new AbortController();
    cancels.set(message.id, () => controller.abort(new ConnectError("the client went away", Code.Canceled)));
    let response: Response;
    try {
      const request = new Request(message.url, { method: message.method, headers: message.headers, body: message.body, signal: controller.signal });
      response = await handlers.fetch(request);
    } catch (error) {
      handlers.log(
        `api: forwarded request ${message.method} ${message.url} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
      response = new Response("internal error\n", { status: 500, headers: { "Content-Type": "text/plain; charset=utf-8" } });
    } finally {
      cancels.delete(message.id);
    }
    const headers = [...response.headers];
    if (response.body !== null && STREAMED_CONTENT_TYPE.test(response.headers.get("content-type") ?? "")) {
      streams.set(message.id, response.body.getReader());
      post({ type: "response", id: message.id, status: response.status, headers, body: "stream" });
      return;
    }
    const body = response.body === null ? null : new Uint8Array(await response.arrayBuffer());
    post({ type: "response", id: message.id, status: response.status, headers, body }, body === null ? [] : [body.buffer]);
  };

  const pull = async (id: number): Promise<void> => {
    const reader = streams.get(id);
    if (reader === undefined) return post({ type: "chunk", id, chunk: null, error: "the stream is gone" });
    try {
      const next = await reader.read();
      if (next.done) streams.delete(id);
      post({ type: "chunk", id, chunk: next.done ? null : next.value!, error: null });
    } catch (error) {
      streams.delete(id);
      post({ type: "chunk", id, chunk: null, error: error instanceof Error ? error.message : String(error) });
    }
  };

  worker.onmessage = (event: MessageEvent<ToRaftThread>) => {
    const message = event.data;
    switch (message.type) {
      case "listening":
        return started?.resolve(message);
      case "failed":
        return started?.reject(new ApiServerError(message.message));
      case "calls":
        for (const call of unpackCalls(message.packed)) runCall(call);
        return;
      case "request":
        void runRequest(message);
        return;
      case "pull":
        void pull(message.id);
        return;
      case "cancel": {
        cancels.get(message.id)?.();
        const reader = streams.get(message.id);
        if (reader !== undefined) {
          streams.delete(message.id);
          void reader.cancel().catch(() => {});
        }
        return;
      }
      case "log":
        if (message.unhandled) handlers.onUnhandled();
        return handlers.log(message.line);
      case "drained":
        return drained?.();
      case "stopped":
        return stopped?.();
      case "tlsReplaced":
        if (message.closed) handlers.onExit(`the client port could not be bound again with the new certificate (${message.error}); it is closed`);
        return tlsReplaced?.(message.error);
    }
  };
  let lastError = "";
  let stopRequested = false;
  worker.onerror = (event) => {
    lastError = event.message.split("\n").find((line) => line.trim().startsWith("error:"))?.trim() ?? event.message.split("\n")[0]!;
    const error = new ApiServerError(`the API worker failed: ${lastError}`);
    handlers.log(`api: the API worker failed: ${event.message}`);
    started?.reject(error);
  };
  let exited = false;
  worker.addEventListener("close", () => {
    exited = true;
    // A stop() waiting on the worker's answers gets none now.
    drained?.();
    stopped?.();
    tlsReplaced?.("the API worker exited");
    if (started !== undefined) return started.reject(new ApiServerError(`the API worker exited before listening${lastError ? `: ${lastError}` : ""}`));
    if (!stopRequested) handlers.onExit(`the API worker exited${lastError ? ` (${lastError})` : ""}; the client port is closed`);
  });

  let address: { hostname: string; port: number };
  try {
    address = await new Promise((resolve, reject) => {
      started = { resolve, reject };
      post({ type: "start", config });
    });
  } catch (error) {
    worker.terminate();
    throw error;
  }
  started = undefined;

  let stopping: Promise<void> | undefined;
  let replacing: Promise<void> = Promise.resolve();
  return {
    hostname: address.hostname,
    port: address.port,
    thread: worker,
    replaceTls(tls) {
      // One rotation at a time: each waits for the worker's answer to the one before.
      const next = replacing.then(
        () =>
          new Promise<void>((resolve, reject) => {
            if (exited || stopRequested) return reject(new ApiServerError("the API worker is not running"));
            tlsReplaced = (error) => {
              tlsReplaced = undefined;
              if (error === null) resolve();
              else reject(new ApiServerError(`the client port keeps its certificate: ${error}`));
            };
            post({ type: "tls", tls });
          }),
      );
      replacing = next.catch(() => {});
      return next;
    },
    stop(graceMs, cancelCalls) {
      stopRequested = true;
      // Each wait also ends when the worker exits (see the close listener).
      const untilWorker = (set: (resolve: () => void) => void, message: ToWorker): Promise<void> =>
        exited
          ? Promise.resolve()
          : new Promise<void>((resolve) => {
              set(resolve);
              post(message);
            });
      stopping ??= (async () => {
        await untilWorker((resolve) => (drained = resolve), { type: "stop", graceMs });
        cancelCalls();
        // Let the cancelled calls' answers go out before the connections close.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (!exited) flushAnswers();
        await untilWorker((resolve) => (stopped = resolve), { type: "close" });
        for (const reader of streams.values()) void reader.cancel().catch(() => {});
        streams.clear();
        worker.terminate();
      })();
      return stopping;
    },
  };
}
