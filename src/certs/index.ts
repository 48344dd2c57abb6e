// Certificates for dkv: mint a CA and leaves (`initCa`, `issueCert`) and load
// TLS files for sockets (`loadTlsFiles`). Importing this module is cheap: the
// X.509 library is loaded only when something is minted.
export { type InitCaOptions, initCa, type MintedFiles } from "./ca";
export { CertError } from "./errors";
export { type CertKind, type IssueCertOptions, issueCert } from "./issue";
export {
  CA_CERT_FILE,
  CA_DEFAULT_VALIDITY_DAYS,
  CA_KEY_FILE,
  LEAF_DEFAULT_VALIDITY_DAYS,
  MAX_VALIDITY_DAYS,
} from "./limits";
export { loadTlsFiles, type TlsFilePaths, type TlsMaterial } from "./load";
