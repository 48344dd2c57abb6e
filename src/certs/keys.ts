// ECDSA P-256 keys and random serial numbers through WebCrypto. Keys are
// stored as unencrypted PKCS#8 PEM ("PRIVATE KEY"), which Bun's TLS, openssl
// and Go all read; the file mode (0600) is what protects them.
import type { X509Lib } from "./x509-lib";
import { CertError } from "./errors";
import { SERIAL_BYTES } from "./limits";

export const ECDSA_P256_SHA256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  // extractable: the private key has to be written to a file.
  return (await crypto.subtle.generateKey(ECDSA_P256_SHA256, true, ["sign", "verify"])) as CryptoKeyPair;
}

export async function privateKeyToPem(lib: X509Lib, key: CryptoKey): Promise<string> {
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", key);
  return lib.PemConverter.encode(pkcs8, "PRIVATE KEY");
}

/** Reads a PKCS#8 P-256 key for signing; `path` only names the file in errors. */
export async function privateKeyFromPem(lib: X509Lib, pem: string, path: string): Promise<CryptoKey> {
  let der: ArrayBuffer;
  try {
    const blocks = lib.PemConverter.decodeWithHeaders(pem).filter((block) => block.type === "PRIVATE KEY");
    if (blocks.length !== 1 || blocks[0] === undefined) throw new Error("expected exactly one PRIVATE KEY block");
    der = blocks[0].rawData;
  } catch (error) {
    throw new CertError(`${path} is not a PKCS#8 PEM private key ("BEGIN PRIVATE KEY"): ${errorText(error)}`);
  }
  try {
    return await crypto.subtle.importKey("pkcs8", der, ECDSA_P256_SHA256, false, ["sign"]);
  } catch (error) {
    throw new CertError(`${path} is not an ECDSA P-256 private key: ${errorText(error)}`);
  }
}

/** A positive serial of SERIAL_BYTES random bytes, as hex. */
export function randomSerialHex(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(SERIAL_BYTES));
  // Top bit clear keeps the DER INTEGER positive; the next bit set keeps the length fixed.
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return Buffer.from(bytes).toString("hex");
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
