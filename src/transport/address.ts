// Peer addresses as configured and advertised: "host:port", "[v6]:port".
// The host part is also the TLS server name the dialer verifies, so a DNS
// name stays a DNS name here (resolving it is the socket's job, or the
// transport's resolveHost hook).
import { isIP } from "node:net";

export interface PeerAddress {
  /** As given, for logs. */
  text: string;
  /** Host without brackets: a DNS name or an IP literal. */
  host: string;
  port: number;
}

export class AddressError extends Error {
  override name = "AddressError";
}

export function parsePeerAddress(text: string): PeerAddress {
  // No whitespace or other separators inside the host: it becomes a socket host and a TLS name.
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/.exec(text.trim());
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (match === null || host === undefined || !(port >= 1 && port <= 65535)) {
    throw new AddressError(`peer address ${JSON.stringify(text)} must be host:port or [ipv6]:port with a port from 1 to 65535`);
  }
  if (match[1] !== undefined && isIP(host) !== 6) {
    throw new AddressError(`peer address ${JSON.stringify(text)}: only IPv6 addresses go in brackets`);
  }
  return { text: text.trim(), host, port };
}
