// Starts the client API: ConnectRPC services (Connect JSON/binary, gRPC-Web)
// and the probes on one Bun.serve (HTTPS, optionally mutual TLS), plus an
// optional plain listener with only the probes. Listening when it returns.
import { Code, ConnectError } from "@connectrpc/connect";
import type { Server } from "bun";
import { createApiMetrics, type ApiMetrics } from "./api-metrics.js";
import { resolveOptions, parseListenAddress, ApiServerError, type ApiServerOptions, type ListenAddress } from "./options.js";
import { createProbeRoutes, notFound, notFoundOnMetricsListener } from "./probes.js";
import { createRpcRoutes } from "./routes.js";
import { loadServerTls, type ServerTls } from "./tls.js";
import { startApiWorker, type ApiWorker } from "./worker-bridge.js";

/**
 * Bun refuses bodies above maxRequestBodySize with a bare 413 before our code
 * runs. Setting it well above our own limit lets clients that overshoot a
 * little get a Connect error naming the limit (their body is not read), while
 * absurd uploads are still cut off by Bun.
 */
const BUN_BODY_BACKSTOP_FACTOR = 4;

export interface ApiServerHandle {
  /** The bound port (useful with port 0). */
  readonly port: number;
  readonly hostname: string;
  /** "http://host:port" or "https://host:port". */
  readonly url: string;
  /** The plain metrics listener, when metricsListenAddress was given. */
  readonly metrics?: { readonly port: number; readonly hostname: string; readonly url: string };
  /** Stops accepting, lets calls in progress finish for stopGraceMs, then cancels them and closes. */
  stop(): Promise<void>;
  /**
   * Certificate rotation: new handshakes on the client port present `material`
   * (and verify client certificates against its CA when the port asks for
   * them). Bun cannot change a listening server's certificate, so the port is
   * bound again: requests in progress finish on the old server, its idle
   * keep-alive connections close. Rejects with ApiServerError when the port
   * runs plain HTTP or the new certificate cannot be served (the old one then
   * still serves); if not even the old one can be bound again, onFailure runs.
   */
  replaceTls(material: { cert: string; key: string; ca?: string }): Promise<void>;
}

export async function startApiServer(options: ApiServerOptions): Promise<ApiServerHandle> {
  const resolved = resolveOptions(options);
  const listen = parseListenAddress("listenAddress", resolved.listenAddress);
  const metricsListen = resolved.metricsListenAddress === undefined ? undefined : parseListenAddress("metricsListenAddress", resolved.metricsListenAddress);
  let tls = loadServerTls(resolved);
  const shutdown = new AbortController();
  const metrics = createApiMetrics();

  const rpcRoutes = createRpcRoutes({
    node: resolved.node,
    readMaxBytes: resolved.maxRequestBytes,
    leanUnary: resolved.leanUnary,
    requireConnectProtocolHeader: resolved.requireConnectProtocolHeader,
    shutdownSignal: shutdown.signal,
    metrics,
    log: resolved.log,
    ...(resolved.auth !== undefined ? { auth: resolved.auth } : {}),
  });
  const probeRoutes = createProbeRoutes(resolved.node, metrics, resolved.log, resolved.readyCheckTimeoutMs);
  const rpcPaths = Object.keys(rpcRoutes.fetch).sort();
  const routes = { ...rpcRoutes.fetch, ...probeRoutes };
  const fallback = (request: Request): Response => notFound(request, metrics, rpcPaths);
  const maxRequestBodySize = resolved.maxRequestBytes * BUN_BODY_BACKSTOP_FACTOR;

  const servers: Server<undefined>[] = [];
  /** Client-port servers replaced by a certificate rotation, finishing the requests they had. */
  const retired: Server<undefined>[] = [];
  let worker: ApiWorker | undefined;
  const apiServeOptions: ServeOptions = {
    routes,
    fetch: fallback,
    maxRequestBodySize,
    idleTimeout: resolved.idleTimeoutSeconds,
    metrics,
    log: resolved.log,
  };
  try {
    if (resolved.apiWorker) {
      const unaryPaths = Object.keys(rpcRoutes.unary);
      worker = await startApiWorker(
        {
          hostname: listen.hostname,
          port: listen.port,
          tls,
          maxRequestBodySize,
          readMaxBytes: resolved.maxRequestBytes,
          idleTimeout: resolved.idleTimeoutSeconds,
          unaryPaths,
        },
        {
          unary: unaryPaths.map((path) => rpcRoutes.unary[path]!),
          fetch: async (request) => (routes[new URL(request.url).pathname as keyof typeof routes] ?? fallback)(request),
          log: resolved.log,
          onUnhandled: () => metrics.httpResponses.with("error", "500").inc(),
          onExit: (reason) => {
            resolved.log(`api: ${reason}`);
            resolved.onFailure?.(reason);
          },
        },
      ).catch((error: unknown) => {
        throw new ApiServerError(
          `cannot serve the client API${describeTls(tls)} on listenAddress ${listen.hostname}:${listen.port}: ${error instanceof Error ? error.message : String(error)}`,
        );
      });
    } else {
      servers.push(serve("listenAddress", listen, tls, apiServeOptions));
    }
    if (metricsListen !== undefined) {
      servers.push(
        serve("metricsListenAddress", metricsListen, undefined, {
          routes: probeRoutes,
          fetch: (request) => notFoundOnMetricsListener(request, metrics),
          maxRequestBodySize: 64 * 1024,
          idleTimeout: resolved.idleTimeoutSeconds,
          metrics,
          log: resolved.log,
        }),
      );
    }
  } catch (error) {
    for (const server of servers) void server.stop(true);
    void worker?.stop(0, () => shutdown.abort());
    throw error;
  }

  const address = worker ?? { hostname: servers[0]!.hostname!, port: servers[0]!.port! };
  const scheme = tls === undefined ? "http" : "https";
  const metricsServer = worker === undefined ? servers[1] : servers[0];
  let stopping: Promise<void> | undefined;
  return {
    port: address.port,
    hostname: address.hostname,
    url: `${scheme}://${hostForUrl(address.hostname)}:${address.port}`,
    metrics:
      metricsServer === undefined
        ? undefined
        : { port: metricsServer.port!, hostname: metricsServer.hostname!, url: `http://${hostForUrl(metricsServer.hostname!)}:${metricsServer.port}` },
    async replaceTls(material) {
      if (tls === undefined) throw new ApiServerError("the client port serves plain HTTP; start the member with --cert-file and --key-file to use TLS");
      if (stopping !== undefined) throw new ApiServerError("the client port is stopping");
      const next: ServerTls = { ...tls, cert: material.cert, key: material.key, ...(material.ca === undefined ? {} : { ca: material.ca }) };
      if (worker !== undefined) {
        await worker.replaceTls(next);
        tls = next;
        return;
      }
      const old = servers[0]!;
      const at = { hostname: listen.hostname, port: old.port! };
      retired.push(old);
      // Forgotten once its last connection is done.
      void old.stop(false).then(() => forget(retired, old));
      try {
        servers[0] = serve("listenAddress", at, next, apiServeOptions);
        tls = next;
      } catch (error) {
        try {
          servers[0] = serve("listenAddress", at, tls, apiServeOptions);
        } catch (again) {
          const reason = `the client port could not be bound again (${again instanceof Error ? again.message : String(again)}); it is closed`;
          resolved.log(`api: ${reason}`);
          resolved.onFailure?.(reason);
        }
        throw new ApiServerError(`the client port keeps its certificate: ${error instanceof Error ? error.message : String(error)}`);
      }
    },
    stop() {
      stopping ??= Promise.all([
        stopServers([...servers, ...retired], shutdown, resolved.stopGraceMs),
        worker?.stop(resolved.stopGraceMs, () => shutdown.abort(new ConnectError("the server is stopping", Code.Unavailable))),
      ]).then(() => {});
      return stopping;
    },
  };
}

function describeTls(tls: ServerTls | undefined): string {
  return tls === undefined ? "" : tls.requestCert ? " with mutual TLS" : " with TLS";
}

interface ServeOptions {
  routes: Record<string, (request: Request) => Response | Promise<Response>>;
  fetch: (request: Request) => Response;
  maxRequestBodySize: number;
  idleTimeout: number;
  metrics: ApiMetrics;
  log: (line: string) => void;
}

function serve(field: string, address: ListenAddress, tls: ServerTls | undefined, options: ServeOptions): Server<undefined> {
  try {
    return Bun.serve({
      hostname: address.hostname,
      port: address.port,
      tls,
      routes: options.routes,
      fetch: options.fetch,
      maxRequestBodySize: options.maxRequestBodySize,
      idleTimeout: options.idleTimeout,
      // Never render Bun's HTML error page with stack traces to clients.
      development: false,
      // With development: false Bun otherwise lets a second process bind the
      // same port (SO_REUSEPORT) and silently splits clients between them.
      reusePort: false,
      error(error) {
        options.metrics.httpResponses.with("error", "500").inc();
        options.log(`api: unhandled error while serving a request: ${error.stack ?? error.message}`);
        return new Response("internal error\n", { status: 500, headers: { "Content-Type": "text/plain; charset=utf-8" } });
      },
    });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ApiServerError(`cannot serve the client API${describeTls(tls)} on ${field} ${address.hostname}:${address.port}: ${reason}`);
  }
}

async function stopServers(servers: Server<undefined>[], shutdown: AbortController, graceMs: number): Promise<void> {
  // stop(false) stops accepting at once and resolves when open requests are done.
  const graceful = Promise.all(servers.map((server) => server.stop(false)));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
  await Promise.race([graceful, grace]);
  clearTimeout(timer);
  shutdown.abort(new ConnectError("the server is stopping", Code.Unavailable));
  await Promise.all(servers.map((server) => server.stop(true)));
}

function hostForUrl(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

function forget<T>(list: T[], item: T): void {
  const at = list.indexOf(item);
  if (at >= 0) list.splice(at, 1);
}
