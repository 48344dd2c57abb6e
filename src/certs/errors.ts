// The one error type of src/certs: its message names the file, flag or limit
// a person has to fix, in one line.

export class CertError extends Error {
  override name = "CertError";
}
