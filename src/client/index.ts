// The dkv client library: what TypeScript code (and the CLI) imports.
export { createDkvClient, DkvClient, DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_DIAL_TIMEOUT_MS, type DkvClientOptions } from "./client.ts";
export { parseEndpoint, parseEndpointList, type Endpoint } from "./endpoints.ts";
export { ClusterUnavailableError, DkvClientError, EndpointSyntaxError, LocalFileError, OutcomeUnknownError, ServerError, SnapshotIntegrityError } from "./errors.ts";
export { evaluateHealth, quorumSize } from "./health.ts";
export { readTlsFiles } from "./tls-files.ts";
export type * from "./types.ts";
