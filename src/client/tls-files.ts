// Reads certificate files for the client options; a missing or unreadable
// file is named in the error instead of surfacing later as a TLS failure.
import { DkvClientError } from "./errors.ts";

export interface TlsFilePaths {
  cacert?: string;
  cert?: string;
  key?: string;
}

export async function readTlsFiles(paths: TlsFilePaths): Promise<{ cacert?: string; cert?: string; key?: string }> {
  const read = async (label: string, path: string | undefined): Promise<string | undefined> => {
    if (path === undefined || path === "") return undefined;
    try {
      return await Bun.file(path).text();
    } catch (error) {
      const code = (error as { code?: string })?.code ?? (error instanceof Error ? error.message : String(error));
      throw new DkvClientError(`cannot read ${label} file ${path}: ${code}`, "invalid_options");
    }
  };
  const [cacert, cert, key] = await Promise.all([read("CA certificate", paths.cacert), read("client certificate", paths.cert), read("client key", paths.key)]);
  return { ...(cacert !== undefined && { cacert }), ...(cert !== undefined && { cert }), ...(key !== undefined && { key }) };
}
