// TLS settings for peer sockets. With material given, both sides present a
// certificate from the peer CA and verify the other (mutual TLS); the dialer
// checks the server certificate against the host of the peer's ADVERTISED
// address (serverName), which may differ from the address it connects to.
import type { TLSOptions } from "bun";

/** PEM text, e.g. from src/certs loadTlsFiles(). */
export interface PeerTlsMaterial {
  cert: string;
  key: string;
  ca: string;
}

export function listenerTlsOptions(material: PeerTlsMaterial): TLSOptions {
  return { cert: material.cert, key: material.key, ca: material.ca, requestCert: true, rejectUnauthorized: true };
}

export function dialerTlsOptions(material: PeerTlsMaterial, serverName: string): TLSOptions {
  return { cert: material.cert, key: material.key, ca: material.ca, serverName, rejectUnauthorized: true };
}

/**
 * The verdict on a finished handshake. Bun's `success` argument is not it:
 * only `socket.authorized` (the peer's certificate chained to our CA, and for
 * the dialer the name matched) says the other side may talk to us.
 */
export function handshakeRefusal(socket: { authorized: boolean }, authError: Error | null): string | undefined {
  if (socket.authorized && authError === null) return undefined;
  return authError?.message ?? "peer certificate not authorized";
}
