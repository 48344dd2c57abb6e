// Test certificates minted with the openssl command line into a temp dir:
// a CA, a server certificate for 127.0.0.1 (and one for a DNS name only), a
// client certificate, and a second, unrelated CA with its own client pair.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCerts {
  dir: string;
  /** Paths. */
  caPath: string;
  clientCertPath: string;
  clientKeyPath: string;
  otherCaPath: string;
  otherClientCertPath: string;
  otherClientKeyPath: string;
  /** PEM text. */
  ca: string;
  serverCert: string;
  serverKey: string;
  /** Server certificate naming only db.example (not 127.0.0.1). */
  namedServerCert: string;
  namedServerKey: string;
  clientCert: string;
  clientKey: string;
  remove(): void;
}

function openssl(dir: string, ...args: string[]): void {
  const result = Bun.spawnSync(["openssl", ...args], { cwd: dir, stderr: "pipe", timeout: 20_000 });
  if (result.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr.toString()}`);
}

function mintCa(dir: string, name: string): void {
  openssl(dir, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`);
  openssl(dir, "req", "-x509", "-new", "-key", `${name}.key`, "-subj", `/CN=${name}`, "-days", "2", "-out", `${name}.crt`);
}

function mintLeaf(dir: string, ca: string, name: string, extensions: string): void {
  openssl(dir, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${name}.key`);
  openssl(dir, "req", "-new", "-key", `${name}.key`, "-subj", `/CN=${name}`, "-out", `${name}.csr`);
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-days", "2", "-extfile", `${name}.ext`, "-out", `${name}.crt`);
}

export async function mintTestCerts(): Promise<TestCerts> {
  const dir = mkdtempSync(join(tmpdir(), "dkv-certs-"));
  mintCa(dir, "ca");
  mintCa(dir, "other-ca");
  mintLeaf(dir, "ca", "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  mintLeaf(dir, "ca", "named-server", "subjectAltName=DNS:db.example\nextendedKeyUsage=serverAuth\n");
  mintLeaf(dir, "ca", "client", "extendedKeyUsage=clientAuth\n");
  mintLeaf(dir, "other-ca", "other-client", "extendedKeyUsage=clientAuth\n");
  const read = (name: string) => Bun.file(join(dir, name)).text();
  return {
    dir,
    caPath: join(dir, "ca.crt"),
    clientCertPath: join(dir, "client.crt"),
    clientKeyPath: join(dir, "client.key"),
    otherCaPath: join(dir, "other-ca.crt"),
    otherClientCertPath: join(dir, "other-client.crt"),
    otherClientKeyPath: join(dir, "other-client.key"),
    ca: await read("ca.crt"),
    serverCert: await read("server.crt"),
    serverKey: await read("server.key"),
    namedServerCert: await read("named-server.crt"),
    namedServerKey: await read("named-server.key"),
    clientCert: await read("client.crt"),
    clientKey: await read("client.key"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
