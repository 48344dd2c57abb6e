// A plain TCP dial with a timeout, done before the first request to an
// endpoint. fetch() cannot tell "could not connect" from "sent, then no
// answer"; this can, which is what lets a compare-and-swap move on from a
// dead endpoint knowing it was never sent there.
import { TransportFailure } from "./failure.ts";

/** Resolves once a TCP connection to host:port opened (it is closed at once); rejects with a TransportFailure. */
export function dialTcp(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (error?: TransportFailure): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(() => finish(new TransportFailure("unreachable", "dial_timeout", `could not connect within ${timeoutMs}ms`)), timeoutMs);
    const refused = (error: unknown): void => {
      const code = String((error as { code?: unknown })?.code ?? "ECONNREFUSED");
      finish(new TransportFailure("unreachable", code, code === "ECONNREFUSED" ? "connection refused" : `cannot connect (${code})`));
    };
    // Bun both calls connectError and rejects the promise on a refused dial: both paths end in finish().
    Bun.connect({
      hostname: host,
      port,
      socket: {
        open(socket) {
          socket.end();
          finish();
        },
        connectError(_socket, error) {
          refused(error);
        },
        data() {},
        error() {},
      },
    }).then(
      (socket) => {
        // Connected after the timer already gave up: do not leak the socket.
        if (settled) socket.end();
      },
      refused,
    );
  });
}
