// TLS settings for peer sockets. With material given, both sides present a
// certificate from the peer CA and verify the other (mutual TLS); the dialer
// checks the server certificate against the host of the peer's ADVERTISED
// address (serverName), which may differ from the address it connects to.
import type { TLSOptions } from "bun";
import { checkServerIdentity, type PeerCertificate } from "node:tls";

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

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/** What a socket tells about the certificate the other side presented. */
export interface HandshakeSocket {
  authorized: boolean;
  getPeerCertificate(): { ext_key_usage?: string[]; subject?: unknown; subjectaltname?: string } | null | undefined;
}

/**
 * Why a peer that says it is `id` may not be: its certificate does not name
 * the host `id` advertises. Every member's certificate must name its
 * advertised host anyway (the dialers verify it as the server name), so this
 * refuses only a holder of another member's certificate, or of a peer
 * certificate issued for a host that is no member's, claiming to be `id`.
 */
export function peerIdentityRefusal(socket: HandshakeSocket, id: string, advertisedHost: string): string | undefined {
  const cert = socket.getPeerCertificate();
  if (cert === null || cert === undefined) return `no certificate to check the identity of ${JSON.stringify(id)} against`;
  const mismatch = checkServerIdentity(advertisedHost, cert as unknown as PeerCertificate);
  if (mismatch === undefined) return undefined;
  return `Hello says ${JSON.stringify(id)}, but the certificate does not name ${JSON.stringify(advertisedHost)}, the host ${JSON.stringify(id)} advertises (it names ${cert.subjectaltname ?? "no alternative names"})`;
}

/**
 * The verdict on a finished handshake. Bun's `success` argument is not it:
 * only `socket.authorized` (the peer's certificate chained to our CA, and for
 * the dialer the name matched) says the other side may talk to us. And the
 * certificate must be a PEER certificate: the CA that signs peer
 * certificates may also sign client and API-server ones (`dkv certs issue
 * --kind client|server`), and a client's certificate must not let its holder
 * speak raft. A peer certificate is valid for both TLS server and client
 * authentication (every member listens and dials); one without an extended
 * key usage extension is valid for any purpose (RFC 5280).
 */
export function handshakeRefusal(socket: HandshakeSocket, authError: Error | null): string | undefined {
  if (!socket.authorized || authError !== null) return authError?.message ?? "peer certificate not authorized";
  const usages = socket.getPeerCertificate()?.ext_key_usage;
  if (usages !== undefined && !(usages.includes(SERVER_AUTH) && usages.includes(CLIENT_AUTH))) {
    return "not a peer certificate: its extended key usage must allow both TLS server and client authentication (dkv certs issue --kind peer)";
  }
  return undefined;
}
