// Before `dkv serve` creates or opens its data dir: can it listen where it
// was told? A new data dir records this member's addresses in the cluster's
// first configuration, and a later start resumes from it with those flags
// ignored; so a port in use or an address this host does not have must stop
// the first start before anything is written (etcd binds its listeners before
// it creates its data dir too). The real listeners bind later; something that
// takes a port in between still gets the listener's own one-line error.
import type { NodeConfig } from "../server/config.ts";
import { parseHostPort } from "../server/config.ts";

interface Listen {
  flag: string;
  address: string;
}

/** Throws one line naming the flag and the address when one cannot be bound now. */
export function checkListenAddresses(config: NodeConfig): void {
  const wanted: Listen[] = [
    { flag: "listen-peer-address", address: config.listenPeerAddress },
    { flag: "listen-client-address", address: config.listenClientAddress },
    ...(config.listenMetricsAddress ? [{ flag: "listen-metrics-address", address: config.listenMetricsAddress }] : []),
  ];
  for (const { flag, address } of wanted) {
    const { host, port } = parseHostPort(address, flag, true);
    // Port 0 means any free port: there is nothing to find taken.
    if (port === 0) continue;
    let listener: { stop(closeActiveConnections?: boolean): void } | undefined;
    try {
      listener = Bun.listen({ hostname: host, port, socket: { data() {} } });
    } catch (error) {
      throw new Error(`cannot listen on ${address} (--${flag}): ${explain(error, host)}`);
    } finally {
      listener?.stop(true);
    }
  }
}

function explain(error: unknown, host: string): string {
  switch ((error as { code?: unknown })?.code) {
    case "EADDRINUSE":
      return "the port is in use by another process";
    case "EADDRNOTAVAIL":
      return `${host} is not an address of this host`;
    case "EACCES":
      return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
    default:
      return error instanceof Error ? error.message : String(error);
  }
}
