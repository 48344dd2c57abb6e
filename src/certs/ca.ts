// The certificate authority of a dkv cluster: `initCa` mints it into
// DIR/ca.crt + DIR/ca.key; `loadCa` reads it back to sign leaves, checking
// that the key belongs to the certificate and that it is a usable CA.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CertError } from "./errors";
import { describeFsError, ensureCertDir, writeFilesRefusingOverwrite } from "./files";
import { ECDSA_P256_SHA256, generateKeyPair, privateKeyFromPem, privateKeyToPem, randomSerialHex } from "./keys";
import {
  CA_CERT_FILE,
  CA_DEFAULT_VALIDITY_DAYS,
  CA_KEY_FILE,
  CERT_FILE_MODE,
  CLOCK_SKEW_BACKDATE_MS,
  KEY_FILE_MODE,
} from "./limits";
import { checkCommonName, checkValidityDays } from "./validate";
import { loadX509, type X509Lib } from "./x509-lib";

const DAY_MS = 24 * 60 * 60 * 1000;

export interface InitCaOptions {
  dir: string;
  /** Subject common name; default "dkv CA". */
  cn?: string;
  days?: number;
  /** Replace existing ca.crt / ca.key. */
  force?: boolean;
}

export interface MintedFiles {
  certPath: string;
  keyPath: string;
  notAfter: Date;
  serialHex: string;
  /** SHA-256 of the DER certificate, hex, for people to compare. */
  fingerprintSha256: string;
}

export async function initCa(options: InitCaOptions): Promise<MintedFiles> {
  const cn = options.cn ?? "dkv CA";
  const days = options.days ?? CA_DEFAULT_VALIDITY_DAYS;
  checkCommonName(cn);
  checkValidityDays(days);
  const certPath = join(options.dir, CA_CERT_FILE);
  const keyPath = join(options.dir, CA_KEY_FILE);

  const lib = await loadX509();
  const keys = await generateKeyPair();
  const now = Date.now();
  const serialHex = randomSerialHex();
  const cert = await lib.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialHex,
    name: [{ CN: [cn] }],
    keys,
    signingAlgorithm: ECDSA_P256_SHA256,
    notBefore: new Date(now - CLOCK_SKEW_BACKDATE_MS),
    notAfter: new Date(now + days * DAY_MS),
    extensions: [
      // pathLength 0: this CA signs leaves only, never another CA.
      new lib.BasicConstraintsExtension(true, 0, true),
      new lib.KeyUsagesExtension(lib.KeyUsageFlags.keyCertSign | lib.KeyUsageFlags.cRLSign, true),
      await lib.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });

  ensureCertDir(options.dir);
  writeFilesRefusingOverwrite(
    [
      { path: keyPath, contents: await privateKeyToPem(lib, keys.privateKey), mode: KEY_FILE_MODE },
      { path: certPath, contents: cert.toString("pem") + "\n", mode: CERT_FILE_MODE },
    ],
    options.force ?? false,
  );
  return { certPath, keyPath, notAfter: cert.notAfter, serialHex, fingerprintSha256: await fingerprint(cert) };
}

export interface LoadedCa {
  cert: InstanceType<X509Lib["X509Certificate"]>;
  signingKey: CryptoKey;
  certPath: string;
}

/** Reads DIR/ca.crt + DIR/ca.key for signing leaves. */
export async function loadCa(lib: X509Lib, dir: string): Promise<LoadedCa> {
  const certPath = join(dir, CA_CERT_FILE);
  const keyPath = join(dir, CA_KEY_FILE);
  const certPem = readText(certPath, "CA certificate");
  const keyPem = readText(keyPath, "CA key");

  let cert: LoadedCa["cert"];
  try {
    cert = new lib.X509Certificate(certPem);
  } catch (error) {
    throw new CertError(`${certPath} is not a PEM certificate: ${error instanceof Error ? error.message : error}`);
  }
  const constraints = cert.getExtension(lib.BasicConstraintsExtension);
  if (!constraints?.ca) {
    throw new CertError(`${certPath} is not a CA certificate (basicConstraints CA:TRUE missing)`);
  }
  if (cert.notAfter.getTime() <= Date.now()) {
    throw new CertError(`${certPath} expired on ${cert.notAfter.toISOString()}; mint a new CA with \`dkv certs init --force\``);
  }
  const signingKey = await privateKeyFromPem(lib, keyPem, keyPath);
  await assertKeyMatchesCert(cert, signingKey, keyPath, certPath);
  return { cert, signingKey, certPath };
}

async function assertKeyMatchesCert(cert: LoadedCa["cert"], key: CryptoKey, keyPath: string, certPath: string) {
  // The key is not extractable: prove the pair by signing and verifying a probe.
  const probe = crypto.getRandomValues(new Uint8Array(32));
  const signature = await crypto.subtle.sign(ECDSA_P256_SHA256, key, probe);
  let matches = false;
  try {
    const publicKey = await cert.publicKey.export(ECDSA_P256_SHA256, ["verify"]);
    matches = await crypto.subtle.verify(ECDSA_P256_SHA256, publicKey, signature, probe);
  } catch {
    matches = false;
  }
  if (!matches) throw new CertError(`${keyPath} does not belong to ${certPath}`);
}

export async function fingerprint(cert: { rawData: ArrayBuffer }): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", cert.rawData);
  return Buffer.from(digest).toString("hex");
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const hint = (error as NodeJS.ErrnoException).code === "ENOENT" ? " (create the CA first with `dkv certs init`)" : "";
    throw new CertError(`cannot read ${what} ${path}: ${describeFsError(error)}${hint}`);
  }
}
