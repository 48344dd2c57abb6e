// Public surface of src/storage for the server: open a data dir, then drive
// the log (persist), the KV (apply, reads) and snapshots through Storage.

export { openStorage, Storage, type StorageOptions, type PersistReadyInput, type PersistReadyResult, type PreparedSnapshot } from "./storage";
export { LogStore, type PersistInput, ENTRY_CACHE_MAX_BYTES, ENTRY_CACHE_MAX_ENTRIES } from "./log-store";
export { KvStore, type ApplyResult, type KeyValue, type LeaseInfo, type TxnOpOutcome, type RangeOptions, type RangeResult, encodeCommand, encodedPending, forgetEncoded, prefixEnd } from "./kv-store";
export { SnapshotStore, SNAPSHOTS_KEPT, MAX_SNAPSHOT_CHUNK_BYTES } from "./snapshot-store";
export { type Identity, type OpenDataDirOptions, dataDirPaths } from "./data-dir";
export { StorageError, StorageInvariantError, type StorageErrorCode } from "./errors";
export type { SyncMode } from "./sqlite";
export {
  MAX_REQUEST_BYTES,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  MAX_CLIENT_ID_BYTES,
  MAX_RANGE_KEYS,
  MAX_RANGE_RESPONSE_BYTES,
  validateKey,
  validateValue,
  validatePut,
  validateDelete,
  validateCompareAndSwap,
  validateCommand,
} from "./limits";
export { SCHEMA_VERSION } from "./schema";
export { LOG_SEGMENT_ENTRIES } from "./log-segments";
export { inspectBackup, restoreDataDir, type BackupStatus, type RestoreOptions, type RestoreResult } from "./restore";
export { MAX_LEASE_ID, MAX_LEASE_TTL_SECONDS } from "./leases";
export { encodePutCommand } from "./put-command-wire";
