// TLS and mutual TLS on the client port, and the one-line errors for bad
// TLS files. Certificates come from openssl in a temp dir.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ApiServerError, startApiServer } from "../../src/api/index.js";
import { ServerPool, bytes, clientsFor, type Wire } from "./harness.js";
import { makeTestCerts, type TestCerts } from "./certs.js";
import { MemoryNode } from "./memory-node.js";

const pool = new ServerPool();
let certs: TestCerts;
beforeAll(() => {
  certs = makeTestCerts();
});
afterAll(() => certs.remove());
afterEach(() => pool.stopAll());

interface ClientTls {
  ca: string;
  cert?: string;
  key?: string;
}

/** Bun's fetch with TLS material, for connect-web transports. */
function fetchWith(tls: ClientTls): typeof fetch {
  return ((input: Parameters<typeof fetch>[0], init?: RequestInit) => fetch(input, { ...init, tls })) as typeof fetch;
}

const readText = (path: string) => Bun.file(path).text();

async function clientTls(withCert: "none" | "ours" | "other"): Promise<ClientTls> {
  const ca = await readText(certs.caFile);
  if (withCert === "none") return { ca };
  const [certFile, keyFile] = withCert === "ours" ? [certs.clientCertFile, certs.clientKeyFile] : [certs.otherClientCertFile, certs.otherClientKeyFile];
  return { ca, cert: await readText(certFile), key: await readText(keyFile) };
}

describe("TLS", () => {
  test("with certFile and keyFile the port is HTTPS, verified against the CA, for every wire", async () => {
    const { api } = await pool.start({ certFile: certs.serverCertFile, keyFile: certs.serverKeyFile });
    expect(api.url).toStartWith("https://127.0.0.1:");
    const tlsFetch = fetchWith(await clientTls("none"));
    for (const wire of ["connect-json", "connect-binary", "grpc-web"] as Wire[]) {
      const { dkv } = clientsFor(wire, api.url, tlsFetch);
      await dkv.set({ key: wire, value: bytes("secure") });
      expect((await dkv.get({ key: wire })).found).toBe(true);
    }
    const byName = await fetch(`https://localhost:${api.port}/healthz`, { tls: await clientTls("none") });
    expect(byName.status).toBe(200);
  });

  test("plain HTTP to the TLS port fails", async () => {
    const { api } = await pool.start({ certFile: certs.serverCertFile, keyFile: certs.serverKeyFile });
    const answer = await fetch(`http://127.0.0.1:${api.port}/healthz`).then(
      (response) => response.status,
      () => "refused",
    );
    expect(answer).not.toBe(200);
  });

  test("a client that does not trust the server's CA refuses it", async () => {
    const { api } = await pool.start({ certFile: certs.serverCertFile, keyFile: certs.serverKeyFile });
    await expect(fetch(`${api.url}/healthz`)).rejects.toThrow();
  });
});

for (const apiWorker of [true, false]) {
  describe(`mutual TLS${apiWorker ? "" : ", serving on the raft thread"}`, () => {
    const startMtls = async () =>
      await pool.start({
        certFile: certs.serverCertFile,
        keyFile: certs.serverKeyFile,
        trustedCaFile: certs.caFile,
        metricsListenAddress: "127.0.0.1:0",
        apiWorker,
      });

    test("a client with a certificate from the trusted CA is served", async () => {
      const { api } = await startMtls();
      const tlsFetch = fetchWith(await clientTls("ours"));
      const { dkv, maintenance } = clientsFor("connect-binary", api.url, tlsFetch);
      await dkv.set({ key: "k", value: bytes("v") });
      expect((await dkv.get({ key: "k" })).found).toBe(true);
      const chunks = [];
      for await (const chunk of maintenance.snapshot({})) chunks.push(chunk);
      expect(chunks.at(-1)!.sha256).toHaveLength(64);
    });

    test("a client without a certificate is refused", async () => {
      const { api } = await startMtls();
      const { dkv } = clientsFor("connect-json", api.url, fetchWith(await clientTls("none")));
      await expect(dkv.get({ key: "k" })).rejects.toThrow();
    });

    test("a client with a certificate from another CA is refused", async () => {
      const { api, node } = await startMtls();
      const { dkv } = clientsFor("connect-json", api.url, fetchWith(await clientTls("other")));
      await expect(dkv.set({ key: "intruder", value: bytes("x") })).rejects.toThrow();
      expect(node.data.has("intruder")).toBe(false);
    });

    test("the plain metrics listener needs no client certificate", async () => {
      const { api } = await startMtls();
      expect((await fetch(`${api.metrics!.url}/readyz`)).status).toBe(200);
      expect((await fetch(`${api.metrics!.url}/metrics`)).status).toBe(200);
    });
  });
}

describe("bad TLS options fail at start with one line naming the file", () => {
  const node = new MemoryNode();
  const start = (files: { certFile?: string; keyFile?: string; trustedCaFile?: string }) => () =>
    startApiServer({ node, listenAddress: "127.0.0.1:0", ...files });

  const expectOneLine = async (run: () => unknown, fragment: string) => {
    let error: unknown;
    try {
      const handle = (await run()) as { stop(): Promise<void> };
      void handle.stop();
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ApiServerError);
    const message = (error as Error).message;
    expect(message).toContain(fragment);
    expect(message).not.toContain("\n");
  };

  test("a missing file", async () => {
    await expectOneLine(
      start({ certFile: join(certs.dir, "nope.crt"), keyFile: certs.serverKeyFile }),
      `certFile ${join(certs.dir, "nope.crt")}: cannot read it (no such file)`,
    );
  });

  test("a file that is not PEM", async () => {
    const junk = join(certs.dir, "junk.pem");
    writeFileSync(junk, "hello");
    await expectOneLine(start({ certFile: certs.serverCertFile, keyFile: junk }), `keyFile ${junk}: does not contain a PEM private key`);
    await expectOneLine(
      start({ certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, trustedCaFile: junk }),
      `trustedCaFile ${junk}: does not contain PEM CA certificates`,
    );
  });

  test("a key that does not match the certificate", async () => {
    await expectOneLine(
      start({ certFile: certs.serverCertFile, keyFile: certs.clientKeyFile }),
      "cannot serve the client API with TLS on listenAddress 127.0.0.1:0",
    );
  });

  test("half a pair, or a CA without a pair", async () => {
    await expectOneLine(start({ certFile: certs.serverCertFile }), "keyFile");
    await expectOneLine(start({ keyFile: certs.serverKeyFile }), "certFile");
    await expectOneLine(start({ trustedCaFile: certs.caFile }), "client certificates need a TLS port");
  });
});
