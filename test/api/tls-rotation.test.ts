// Certificate rotation on a running client port, on the raft thread and in
// the API worker: new handshakes get the new certificate, the port keeps
// answering, and material that cannot be served leaves the old one in place.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import tls from "node:tls";
import { ApiServerError } from "../../src/api/index.js";
import { ServerPool, bytes, clientsFor } from "./harness.js";
import { makeTestCerts, type TestCerts } from "./certs.js";

const pool = new ServerPool();
let certs: TestCerts;
beforeAll(() => {
  certs = makeTestCerts();
});
afterAll(() => certs.remove());
afterEach(() => pool.stopAll());

const readText = (path: string) => Bun.file(path).text();
const fingerprintOf = async (certFile: string) => new X509Certificate(await readText(certFile)).fingerprint256;

/** The fingerprint of the certificate a fresh handshake with the port is shown (with our client certificate). */
async function servedFingerprint(port: number): Promise<string> {
  const [ca, cert, key] = await Promise.all([readText(certs.caFile), readText(certs.clientCertFile), readText(certs.clientKeyFile)]);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca, cert, key }, () => {
      const seen = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(seen);
    });
    socket.once("error", reject);
  });
}

/** A set and a get through Connect binary over a new connection, with or without our client certificate. */
async function roundTrip(url: string, key: string, withClientCert = true): Promise<boolean> {
  const tlsOptions = {
    ca: await readText(certs.caFile),
    ...(withClientCert ? { cert: await readText(certs.clientCertFile), key: await readText(certs.clientKeyFile) } : {}),
  };
  const tlsFetch = ((input: Parameters<typeof fetch>[0], init?: RequestInit) =>
    fetch(input, { ...init, tls: tlsOptions, keepalive: false })) as typeof fetch;
  const { dkv } = clientsFor("connect-binary", url, tlsFetch);
  await dkv.set({ key, value: bytes("rotated") });
  return (await dkv.get({ key })).found;
}

async function renewed(): Promise<{ cert: string; key: string; ca: string }> {
  return { cert: await readText(certs.renewedServerCertFile), key: await readText(certs.renewedServerKeyFile), ca: await readText(certs.caFile) };
}

for (const apiWorker of [false, true]) {
  describe(apiWorker ? "certificate rotation in the API worker" : "certificate rotation on the raft thread", () => {
    test("new handshakes get the new certificate and mutual TLS still holds", async () => {
      const { api } = await pool.start({ certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, trustedCaFile: certs.caFile, apiWorker });
      expect(await servedFingerprint(api.port)).toBe(await fingerprintOf(certs.serverCertFile));
      expect(await roundTrip(api.url, "before")).toBe(true);

      await api.replaceTls(await renewed());

      expect(await servedFingerprint(api.port)).toBe(await fingerprintOf(certs.renewedServerCertFile));
      expect(await roundTrip(api.url, "after")).toBe(true);
      // The new server asks for client certificates as the old one did.
      expect(await roundTrip(api.url, "anonymous", false).catch(() => "refused")).toBe("refused");
    });

    test("a key that does not match its certificate is refused and the old certificate keeps serving", async () => {
      const { api } = await pool.start({ certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, apiWorker });
      const mismatched = { cert: await readText(certs.renewedServerCertFile), key: await readText(certs.clientKeyFile) };
      const outcome = await api.replaceTls(mismatched).then(
        () => "replaced",
        (error: unknown) => error,
      );
      expect(outcome).toBeInstanceOf(ApiServerError);
      expect(String(outcome)).toContain("keeps its certificate");
      expect(await servedFingerprint(api.port)).toBe(await fingerprintOf(certs.serverCertFile));
      expect(await roundTrip(api.url, "still-serving")).toBe(true);
    });
  });
}

test("a plain-HTTP client port refuses a certificate at run time", async () => {
  const { api } = await pool.start({});
  const outcome = await api.replaceTls(await renewed()).then(
    () => "replaced",
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(ApiServerError);
  expect(String(outcome)).toContain("plain HTTP");
});
