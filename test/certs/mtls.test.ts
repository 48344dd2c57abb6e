// The minted certificates do mutual TLS on Bun's raw sockets: a peer with a
// certificate from this CA is accepted; none, or one from another CA, is not.
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { initCa, issueCert, loadTlsFiles, type TlsMaterial } from "../../src/certs/index";
import { makeTempDir, withDeadline } from "./helpers";

const EXCHANGE_DEADLINE_MS = 5000;

let dir: ReturnType<typeof makeTempDir>;
let other: ReturnType<typeof makeTempDir>;
let server: TlsMaterial;
let client: TlsMaterial;
let serverOnly: TlsMaterial;
let foreignClient: TlsMaterial;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  dir = makeTempDir();
  other = makeTempDir();
  await initCa({ dir: dir.path });
  await initCa({ dir: other.path, cn: "someone else's CA" });
  await issueCert({ dir: dir.path, name: "n1", dns: ["dkv-1.dkv.default.svc"], ip: ["127.0.0.1"], kind: "peer" });
  await issueCert({ dir: dir.path, name: "alice", kind: "client" });
  await issueCert({ dir: dir.path, name: "api", dns: ["localhost"], kind: "server" });
  await issueCert({ dir: other.path, name: "mallory", kind: "client" });
  const load = (d: string, name: string) =>
    loadTlsFiles({ cert: join(d, `${name}.crt`), key: join(d, `${name}.key`), ca: join(dir.path, "ca.crt") });
  server = load(dir.path, "n1");
  client = load(dir.path, "alice");
  serverOnly = load(dir.path, "api");
  foreignClient = load(other.path, "mallory");
});
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});
afterAll(() => {
  dir.remove();
  other.remove();
});

interface Outcome {
  /** The client got the server's echo: the server accepted it. */
  echoed: boolean;
  serverSawAuthorized: boolean;
  clientError?: string;
}

/** Starts an mTLS echo server, dials it, and reports whether a line made the round trip. */
async function exchange(clientTls: Partial<TlsMaterial> | undefined, serverName: string): Promise<Outcome> {
  let serverSawAuthorized = false;
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: server.cert, key: server.key, ca: server.ca, requestCert: true, rejectUnauthorized: true },
    socket: {
      handshake(socket) {
        // `success` is not the verdict; `authorized` is.
        if (socket.authorized) serverSawAuthorized = true;
        else socket.terminate();
      },
      data(socket, data) {
        if (socket.authorized) socket.write(data);
      },
    },
  });
  cleanups.push(() => listener.stop(true));

  const outcome = new Promise<Outcome>((resolve) => {
    const finish = (echoed: boolean, clientError?: string) =>
      resolve({ echoed, serverSawAuthorized, ...(clientError === undefined ? {} : { clientError }) });
    Bun.connect({
      hostname: "127.0.0.1",
      port: listener.port,
      tls: { ...clientTls, ca: server.ca, serverName, rejectUnauthorized: true },
      socket: {
        handshake(socket, _success, error) {
          if (error) finish(false, error.message);
          else socket.write("ping");
        },
        data(socket, data) {
          finish(data.toString() === "ping");
          socket.end();
        },
        close(_socket, error) {
          finish(false, error?.message ?? "closed before the echo");
        },
        error(_socket, error) {
          finish(false, error.message);
        },
        connectError(_socket, error) {
          finish(false, error.message);
        },
      },
    })
      .then((socket) => cleanups.push(() => socket.terminate()))
      .catch((error: Error) => finish(false, error.message));
  });
  return withDeadline(outcome, EXCHANGE_DEADLINE_MS, "the TLS exchange");
}

test("a client certificate from the same CA completes a mutual-TLS exchange", async () => {
  const outcome = await exchange({ cert: client.cert, key: client.key }, "127.0.0.1");
  expect(outcome).toEqual({ echoed: true, serverSawAuthorized: true });
});

test("the server's DNS SAN is verified while connecting to 127.0.0.1", async () => {
  const outcome = await exchange({ cert: client.cert, key: client.key }, "dkv-1.dkv.default.svc");
  expect(outcome.echoed).toBe(true);
});

test("a server name missing from the server's SANs is refused by the client", async () => {
  const outcome = await exchange({ cert: client.cert, key: client.key }, "dkv-2.dkv.default.svc");
  expect(outcome.echoed).toBe(false);
  expect(outcome.clientError).toContain("altnames");
  expect(outcome.serverSawAuthorized).toBe(false);
});

test("a client without a certificate is refused", async () => {
  const outcome = await exchange(undefined, "127.0.0.1");
  expect(outcome.echoed).toBe(false);
  expect(outcome.serverSawAuthorized).toBe(false);
});

test("a client certificate from another CA is refused", async () => {
  const outcome = await exchange({ cert: foreignClient.cert, key: foreignClient.key }, "127.0.0.1");
  expect(outcome.echoed).toBe(false);
  expect(outcome.serverSawAuthorized).toBe(false);
});

test("a serverAuth-only certificate is refused as a client certificate", async () => {
  const outcome = await exchange({ cert: serverOnly.cert, key: serverOnly.key }, "127.0.0.1");
  expect(outcome.echoed).toBe(false);
  expect(outcome.serverSawAuthorized).toBe(false);
});
