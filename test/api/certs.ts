// Test certificates made with the openssl command line in a temp dir: a CA,
// a server certificate for 127.0.0.1 and localhost (and a renewed one), a client certificate
// from that CA, and a client certificate from an unrelated CA.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCerts {
  dir: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** A second server certificate from the same CA with the same names: what a rotation installs. */
  renewedServerCertFile: string;
  renewedServerKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  otherClientCertFile: string;
  otherClientKeyFile: string;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  const result = Bun.spawnSync(["openssl", ...args], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr.toString()}`);
}

function makeCa(dir: string, name: string): void {
  openssl(dir, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
    "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.crt`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
}

function makeLeaf(dir: string, ca: string, name: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.csr`]);
  openssl(dir, ["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.crt`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-days", "2", "-extfile", `${name}.ext`, "-out", `${name}.crt`]);
}

export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), "dkv-api-certs-"));
  makeCa(dir, "ca");
  makeCa(dir, "other-ca");
  makeLeaf(dir, "ca", "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n");
  makeLeaf(dir, "ca", "server-renewed", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n");
  makeLeaf(dir, "ca", "client", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n");
  makeLeaf(dir, "other-ca", "other-client", "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n");
  return {
    dir,
    caFile: join(dir, "ca.crt"),
    serverCertFile: join(dir, "server.crt"),
    serverKeyFile: join(dir, "server.key"),
    renewedServerCertFile: join(dir, "server-renewed.crt"),
    renewedServerKeyFile: join(dir, "server-renewed.key"),
    clientCertFile: join(dir, "client.crt"),
    clientKeyFile: join(dir, "client.key"),
    otherClientCertFile: join(dir, "other-client.crt"),
    otherClientKeyFile: join(dir, "other-client.key"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
