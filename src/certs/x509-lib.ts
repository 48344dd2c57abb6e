// Loads @peculiar/x509 on first use: it costs tens of milliseconds of start-up
// that `dkv serve` and `dkv --help` should not pay. reflect-metadata must be
// loaded before it (the library's ASN.1 schemas use decorators).

export type X509Lib = typeof import("@peculiar/x509");

let loading: Promise<X509Lib> | undefined;

export function loadX509(): Promise<X509Lib> {
  loading ??= (async () => {
    await import("reflect-metadata");
    const lib = await import("@peculiar/x509");
    // Use the runtime's WebCrypto explicitly (Bun's, also inside the compiled binary).
    lib.cryptoProvider.set(globalThis.crypto);
    return lib;
  })();
  return loading;
}
