// Reads the TLS files a node or client is started with and checks them before
// any socket needs them, so a wrong path or a mismatched key is one clear line
// at start-up instead of a handshake failure later. Uses node:crypto only
// (no x509 library): cheap enough for every `dkv serve`.
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { CertError } from "./errors";
import { describeFsError } from "./files";

/** Files larger than this are not certificates or keys: refuse before reading them into memory. */
const MAX_PEM_FILE_BYTES = 1024 * 1024;
/** A certificate expiring within this many days is warned about at start: time to rotate it. */
const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 24 * 60 * 60 * 1000;
const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

export interface TlsFilePaths {
  cert: string;
  key: string;
  /** Trusted CA bundle used to verify the other side; optional for a server that does not ask for client certificates. */
  ca?: string;
}

/** PEM text ready for Bun's `tls` options. */
export interface TlsMaterial {
  cert: string;
  key: string;
  ca?: string;
  /** When the certificate stops being valid: worth logging at start-up. */
  certNotAfter: Date;
  /** Non-fatal findings, e.g. a private key readable by other users. */
  warnings: string[];
}

export function loadTlsFiles(paths: TlsFilePaths): TlsMaterial {
  const warnings: string[] = [];
  const certPem = readPem(paths.cert, "certificate file");
  const keyPem = readPem(paths.key, "key file");
  const caPem = paths.ca === undefined ? undefined : readPem(paths.ca, "CA file");

  const certs = parseCertificates(certPem, paths.cert, "certificate file");
  const leaf = certs[0]!; // parseCertificates guarantees at least one
  const now = Date.now();
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now) {
    throw new CertError(`certificate file ${paths.cert} expired on ${notAfter.toISOString()}`);
  }
  if (notBefore.getTime() > now) {
    throw new CertError(`certificate file ${paths.cert} is not valid before ${notBefore.toISOString()} (check the clock)`);
  }

  const daysLeft = Math.floor((notAfter.getTime() - now) / DAY_MS);
  if (daysLeft < EXPIRY_WARNING_DAYS) {
    warnings.push(`certificate file ${paths.cert} expires on ${notAfter.toISOString()}, in ${daysLeft} days; issue a new one and replace the files (a running member reads them again every 10 s and on SIGHUP)`);
  }

  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new CertError(`key file ${paths.key} is not a PEM private key: ${errorText(error)}`);
  }
  if (!leaf.checkPrivateKey(key)) {
    throw new CertError(`key file ${paths.key} does not belong to certificate file ${paths.cert}`);
  }
  if (caPem !== undefined && paths.ca !== undefined) parseCertificates(caPem, paths.ca, "CA file");

  const keyMode = statSync(paths.key).mode & 0o777;
  if ((keyMode & 0o077) !== 0) {
    warnings.push(`key file ${paths.key} is readable by other users (mode ${keyMode.toString(8)}); chmod 600 it`);
  }
  return { cert: certPem, key: keyPem, ...(caPem === undefined ? {} : { ca: caPem }), certNotAfter: notAfter, warnings };
}

function readPem(path: string, what: string): string {
  try {
    const size = statSync(path).size;
    if (size > MAX_PEM_FILE_BYTES) {
      throw new CertError(`${what} ${path} is ${size} bytes, more than ${MAX_PEM_FILE_BYTES}: not a PEM file`);
    }
    return readFileSync(path, "utf8");
  } catch (error) {
    if (error instanceof CertError) throw error;
    throw new CertError(`cannot read ${what} ${path}: ${describeFsError(error)}`);
  }
}

function parseCertificates(pem: string, path: string, what: string): X509Certificate[] {
  const blocks = pem.match(CERTIFICATE_BLOCK) ?? [];
  if (blocks.length === 0) {
    throw new CertError(`${what} ${path} holds no PEM certificate ("BEGIN CERTIFICATE")`);
  }
  return blocks.map((block, position) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new CertError(`${what} ${path}: certificate #${position + 1} is invalid: ${errorText(error)}`);
    }
  });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
