// Ports for tests that start servers: one place, so no two callers in this
// process are handed the same port.

/** Ports this process handed out: the kernel may offer a port again once its probe closed. */
const handedOut = new Set<number>();

/**
 * A free TCP port on host (the kernel's choice; closed again before use),
 * never one this process handed out before: members on one address once got
 * the same peer port twice and one could not listen.
 */
export function freePort(host = "127.0.0.1"): number {
  for (;;) {
    const server = Bun.listen({ hostname: host, port: 0, socket: { data() {} } });
    const port = server.port;
    server.stop(true);
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}
