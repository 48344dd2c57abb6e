// TLS with openssl-minted certificates: mutual TLS works and discovery keeps
// using https; a wrong CA or a wrong name fails fast with a message that says
// so; a missing client certificate fails within the deadline.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { ClusterUnavailableError, createDkvClient, readTlsFiles } from "../../src/client/index.ts";
import { FakeCluster } from "./fake-cluster.ts";
import { mintTestCerts, type TestCerts } from "./openssl-certs.ts";

let certs: TestCerts;
let cluster: FakeCluster | undefined;

beforeAll(async () => {
  certs = await mintTestCerts();
});
afterAll(() => certs?.remove());
afterEach(() => {
  cluster?.stop();
  cluster = undefined;
});

async function startTls(cert = certs.serverCert, key = certs.serverKey, size = 3): Promise<FakeCluster> {
  cluster = await FakeCluster.start({ size, leaderId: "n2", tls: { cert, key, ca: certs.ca } });
  return cluster;
}

describe("TLS", () => {
  test("mutual TLS: the client presents its certificate, verifies the server, and discovers the others over https", async () => {
    const c = await startTls();
    const tls = await readTlsFiles({ cacert: certs.caPath, cert: certs.clientCertPath, key: certs.clientKeyPath });
    const client = createDkvClient({ endpoints: c.endpoints("n1"), ...tls });
    await client.put("secret", "s3cr3t");
    expect(await client.getText("secret")).toBe("s3cr3t");
    expect(c.node("n2").count("Set")).toBe(1);
  });

  test("a server certificate from another CA is refused at once, not retried until the deadline", async () => {
    const c = await startTls();
    const tls = await readTlsFiles({ cacert: certs.otherCaPath, cert: certs.clientCertPath, key: certs.clientKeyPath });
    const client = createDkvClient({ endpoints: c.endpoints(), ...tls, commandTimeoutMs: 5000 });
    const started = performance.now();
    const error = await client.get("k").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClusterUnavailableError);
    expect((error as Error).message).toContain("not trusted by the given CA");
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test("the server name is checked: a certificate for db.example does not pass for 127.0.0.1 unless asked for", async () => {
    const c = await startTls(certs.namedServerCert, certs.namedServerKey, 1);
    const base = { endpoints: c.endpoints(), cacert: certs.ca, cert: certs.clientCert, key: certs.clientKey, commandTimeoutMs: 3000 };
    const error = await createDkvClient(base).get("k").catch((e: unknown) => e);
    expect((error as Error).message).toContain("does not name this host");
    const named = createDkvClient({ ...base, serverName: "db.example" });
    expect((await named.get("k")).kv).toBeUndefined();
  });

  test("without a client certificate the servers refuse, and the client gives up within the deadline", async () => {
    const c = await startTls();
    const client = createDkvClient({ endpoints: c.endpoints(), cacert: certs.ca, commandTimeoutMs: 800 });
    const started = performance.now();
    const error = await client.get("k").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClusterUnavailableError);
    expect((error as Error).message).toMatch(/TLS handshake failed|client certificate/);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test("a client certificate from another CA is refused", async () => {
    const c = await startTls();
    const tls = await readTlsFiles({ cacert: certs.caPath, cert: certs.otherClientCertPath, key: certs.otherClientKeyPath });
    const client = createDkvClient({ endpoints: c.endpoints(), ...tls, commandTimeoutMs: 800 });
    await expect(client.get("k")).rejects.toThrow(ClusterUnavailableError);
  });

  test("an unreadable certificate file is named in the error", async () => {
    await expect(readTlsFiles({ cacert: `${certs.dir}/missing.crt` })).rejects.toThrow(`cannot read CA certificate file ${certs.dir}/missing.crt`);
  });
});
