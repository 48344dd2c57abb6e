// The API worker: a second JavaScript thread that owns the client port's
// Bun.serve, so the HTTP work of a call (parsing, the Response, TLS) runs
// beside raft instead of on its thread. Unary Connect calls go to the raft
// thread packed, many per message, between event-loop turns; every other
// request is handed over whole. The raft thread decides everything: this
// file only moves bytes (see worker-bridge.ts for the other side).
import type { Server } from "bun";
import { leanCanServe, readAtMost } from "./lean-unary.js";
import { Packer, unpackAnswers, type ForwardedResponse, type ToRaftThread, type ToWorker, type WorkerConfig } from "./worker-protocol.js";

declare const self: Worker;

const post = (message: ToRaftThread, transfer?: ArrayBuffer[]): void => self.postMessage(message, transfer ?? []);

interface Waiting {
  resolve(response: Response): void;
  /** Set while a streamed body waits for its next chunk. */
  pulled?: { resolve(chunk: Uint8Array | null): void; reject(error: Error): void };
}

const waiting = new Map<number, Waiting>();
const packer = new Packer();
let flushScheduled = false;
let nextId = 1;
let server: Server<undefined> | undefined;
let config: WorkerConfig | undefined;
/** Servers replaced by a certificate rotation, finishing the requests they had. */
const retired: Server<undefined>[] = [];

function takeId(): number {
  const id = nextId;
  nextId = nextId === 0xffffffff ? 1 : nextId + 1;
  return id;
}

function flushCalls(): void {
  flushScheduled = false;
  if (packer.count === 0) return;
  const packed = packer.take();
  post({ type: "calls", packed }, [packed.buffer]);
}

function onAbort(id: number, signal: AbortSignal): () => void {
  const listener = (): void => {
    if (waiting.has(id)) post({ type: "cancel", id });
  };
  signal.addEventListener("abort", listener, { once: true });
  return () => signal.removeEventListener("abort", listener);
}

async function unaryCall(route: number, request: Request, readMaxBytes: number): Promise<Response> {
  const headers = request.headers;
  const contentLength = headers.get("content-length");
  const declared = contentLength === null ? NaN : parseInt(contentLength, 10);
  // A declared length over the limit is refused unread, and a chunked body is
  // read no further than the limit, as on the raft thread's own path.
  let body: Uint8Array = new Uint8Array(0);
  let overLimit = false;
  if (Number.isSafeInteger(declared) && declared >= 0) {
    if (declared <= readMaxBytes) body = new Uint8Array(await request.arrayBuffer());
  } else {
    const read = await readAtMost(request, readMaxBytes);
    overLimit = read === null;
    body = read ?? body;
  }
  const id = takeId();
  const answered = new Promise<Response>((resolve) => waiting.set(id, { resolve }));
  packer.call({
    id,
    route,
    contentType: headers.get("content-type"),
    timeout: headers.get("connect-timeout-ms"),
    protocolVersion: headers.get("connect-protocol-version"),
    authorization: headers.get("authorization"),
    contentLength,
    overLimit,
    body,
  });
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushCalls);
  }
  const forget = onAbort(id, request.signal);
  try {
    return await answered;
  } finally {
    forget();
  }
}

async function forward(request: Request): Promise<Response> {
  const id = takeId();
  const body = request.body === null ? null : new Uint8Array(await request.arrayBuffer());
  const answered = new Promise<Response>((resolve) => waiting.set(id, { resolve }));
  post({ type: "request", id, method: request.method, url: request.url, headers: [...request.headers], body }, body === null ? [] : [body.buffer]);
  const forget = onAbort(id, request.signal);
  try {
    return await answered;
  } finally {
    forget();
  }
}

function onResponse(message: ForwardedResponse): void {
  const entry = waiting.get(message.id);
  if (entry === undefined) return;
  const id = message.id;
  if (message.body !== "stream") {
    waiting.delete(id);
    entry.resolve(new Response(message.body, { status: message.status, headers: message.headers }));
    return;
  }
  const body = new ReadableStream<Uint8Array>({
    type: "bytes",
    pull: async (controller) => {
      const chunk = await new Promise<Uint8Array | null>((resolve, reject) => {
        entry.pulled = { resolve, reject };
        post({ type: "pull", id });
      });
      if (chunk === null) {
        waiting.delete(id);
        controller.close();
      } else {
        controller.enqueue(chunk as Uint8Array<ArrayBuffer>);
      }
    },
    cancel: () => {
      if (waiting.delete(id)) post({ type: "cancel", id });
    },
  });
  entry.resolve(new Response(body, { status: message.status, headers: message.headers.filter(([name]) => name.toLowerCase() !== "content-length") }));
}

function onChunk(id: number, chunk: Uint8Array | null, error: string | null): void {
  const pulled = waiting.get(id)?.pulled;
  if (pulled === undefined) return;
  waiting.get(id)!.pulled = undefined;
  if (error !== null) {
    waiting.delete(id);
    pulled.reject(new Error(error));
  } else {
    pulled.resolve(chunk);
  }
}

function start(given: WorkerConfig): void {
  config = given;
  try {
    server = listen(given, given.port);
  } catch (error) {
    post({ type: "failed", message: error instanceof Error ? error.message : String(error) });
    return;
  }
  post({ type: "listening", hostname: server.hostname!, port: server.port! });
}

function listen(settings: WorkerConfig, port: number): Server<undefined> {
  const routes: Record<string, (request: Request) => Promise<Response>> = {};
  settings.unaryPaths.forEach((path, route) => {
    routes[path] = (request) => (leanCanServe(request) ? unaryCall(route, request, settings.readMaxBytes) : forward(request));
  });
  return Bun.serve({
    hostname: settings.hostname,
    port,
    tls: settings.tls,
    routes,
    fetch: forward,
    maxRequestBodySize: settings.maxRequestBodySize,
    idleTimeout: settings.idleTimeout,
    development: false,
    reusePort: false,
    error(error) {
      post({ type: "log", line: `api: unhandled error while serving a request: ${error.stack ?? error.message}`, unhandled: true });
      return new Response("internal error\n", { status: 500, headers: { "Content-Type": "text/plain; charset=utf-8" } });
    },
  });
}

/**
 * Bun cannot change a listening server's certificate: the port is bound again
 * with the new one. The old server stops listening and finishes the requests
 * it has (its idle keep-alive connections close; clients open new ones).
 */
function replaceTls(tls: WorkerConfig["tls"]): void {
  if (server === undefined || config === undefined) return post({ type: "tlsReplaced", error: "the client port is not listening", closed: false });
  const old = server;
  const port = old.port!;
  retired.push(old);
  // Forgotten once its last connection is done.
  void old.stop(false).then(() => forget(retired, old));
  try {
    server = listen({ ...config, tls }, port);
    config = { ...config, tls };
    post({ type: "tlsReplaced", error: null, closed: false });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    try {
      server = listen(config, port);
      post({ type: "tlsReplaced", error: reason, closed: false });
    } catch {
      server = undefined;
      post({ type: "tlsReplaced", error: reason, closed: true });
    }
  }
}

async function stop(graceMs: number): Promise<void> {
  if (server === undefined && retired.length === 0) return post({ type: "stopped" });
  const graceful = Promise.all([server, ...retired].map((s) => s?.stop(false)));
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([graceful, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
  clearTimeout(timer);
  // The raft thread now cancels what is left; its answers still come through here.
  post({ type: "drained" });
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case "start":
      return start(message.config);
    case "answers":
      for (const answer of unpackAnswers(message.packed)) {
        const entry = waiting.get(answer.id);
        if (entry === undefined) continue;
        waiting.delete(answer.id);
        const headers: Record<string, string> | [string, string][] =
          answer.headers === null ? { "content-type": answer.contentType } : (JSON.parse(answer.headers) as [string, string][]);
        entry.resolve(new Response(answer.body as Uint8Array<ArrayBuffer>, { status: answer.status, headers }));
      }
      return;
    case "response":
      return onResponse(message);
    case "chunk":
      return onChunk(message.id, message.chunk, message.error);
    case "stop":
      void stop(message.graceMs);
      return;
    case "tls":
      return replaceTls(message.tls);
    case "close": {
      const open = [server, ...retired].filter((s) => s !== undefined);
      void Promise.all(open.map((s) => s.stop(true))).finally(() => post({ type: "stopped" }));
      return;
    }
  }
};

function forget<T>(list: T[], item: T): void {
  const at = list.indexOf(item);
  if (at >= 0) list.splice(at, 1);
}
