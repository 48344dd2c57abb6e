// Wraps every method of a service implementation with what all of them share:
// a call whose signal already fired does not start, a fired signal ends the
// wait even if the node ignores it, any error becomes the right ConnectError
// (see errors.ts), each call is counted by method and result code, and, with
// an auth file, the caller must have the method's role (auth.ts).
// Both HTTP paths (the stock Connect handler and the lean unary one) call the
// guarded methods, so they behave the same from here on.
import type { DescService } from "@bufbuild/protobuf";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import type { ApiMetrics } from "./api-metrics.js";
import { toConnectError, type LogFn } from "./errors.js";
import type { CallContext } from "./services.js";
import { requiredRole, type Authenticator } from "./auth.js";
import { throwIfAborted, untilAborted } from "./signals.js";

export interface GuardOptions {
  metrics: ApiMetrics;
  log: LogFn;
  /** Users and roles (--auth-file); absent: every call is let in. */
  auth?: Authenticator;
}

/** Who may call: the lean path passes the Authorization header; connect-es's handler context has the request headers. */
type Admission = (context: CallContext) => Promise<void>;

function admission(auth: Authenticator | undefined, procedure: string): Admission | undefined {
  if (auth === undefined) return undefined;
  const role = requiredRole(procedure);
  return async (context) => {
    const header = context.authorization ?? (context as { requestHeader?: Headers }).requestHeader?.get("authorization");
    await auth.authorize(header, role, procedure);
  };
}

type UnaryMethod = (request: unknown, context: CallContext) => Promise<unknown>;
type StreamMethod = (request: unknown, context: CallContext) => AsyncIterable<unknown>;

/** A copy of `implementation` whose methods (named as in `service`) are guarded. */
export function guardService<T extends object>(service: DescService, implementation: T, options: GuardOptions): T {
  const methods = implementation as unknown as Record<string, UnaryMethod | StreamMethod | undefined>;
  const guarded: Record<string, UnaryMethod | StreamMethod> = {};
  for (const method of service.methods) {
    const fn = methods[method.localName];
    if (fn === undefined) continue; // the router answers unimplemented
    const procedure = `${service.typeName}/${method.name}`;
    // One series per result code, looked up once: this runs on every call.
    const series = new Map<string, { inc(): void }>();
    const count = (code: string): void => {
      let counter = series.get(code);
      if (counter === undefined) series.set(code, (counter = options.metrics.requests.with(service.typeName, method.name, code)));
      counter.inc();
    };
    const admit = admission(options.auth, procedure);
    if (method.methodKind === "unary") {
      guarded[method.localName] = guardUnary(fn.bind(implementation) as UnaryMethod, procedure, count, options.log, admit);
    } else if (method.methodKind === "server_streaming") {
      guarded[method.localName] = guardStream(fn.bind(implementation) as StreamMethod, procedure, count, options.log, admit);
    } else {
      throw new Error(`${procedure}: ${method.methodKind} methods are not supported by the client API`);
    }
  }
  return guarded as unknown as T;
}

function guardUnary(fn: UnaryMethod, procedure: string, count: (code: string) => void, log: LogFn, admit: Admission | undefined): UnaryMethod {
  return async (request, context) => {
    try {
      throwIfAborted(context.signal);
      if (admit !== undefined) await admit(context);
      const response = await untilAborted(context.signal, fn(request, context));
      count("ok");
      return response;
    } catch (error) {
      const connectError = toConnectError(error, context.signal, procedure, log);
      count(codeToString(connectError.code));
      throw connectError;
    }
  };
}

function guardStream(fn: StreamMethod, procedure: string, count: (code: string) => void, log: LogFn, admit: Admission | undefined): StreamMethod {
  return async function* guarded(request, context) {
    // A consumer that stops early (client gone) never lets us see an end.
    let code = "canceled";
    const { signal } = context;
    try {
      throwIfAborted(signal);
      if (admit !== undefined) await admit(context);
      const iterator = fn(request, context)[Symbol.asyncIterator]();
      let done = false;
      try {
        while (!done) {
          const next = await untilAborted(signal, iterator.next());
          done = next.done === true;
          if (!done) yield next.value;
        }
        code = "ok";
      } finally {
        // Let the node release what it holds (a snapshot read) without waiting on it.
        if (!done) void iterator.return?.()?.catch(() => {});
      }
    } catch (error) {
      const connectError = toConnectError(error, signal, procedure, log);
      code = codeToString(connectError.code);
      throw connectError;
    } finally {
      count(code);
    }
  };
}
