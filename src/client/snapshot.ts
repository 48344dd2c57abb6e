// Writes a server-streamed backup to a file and proves it arrived whole: the
// bytes are hashed as they are written and compared with the SHA-256 the
// server sends on its last chunk. The file appears under its final name only
// when verified and on disk (fsynced); a failed download leaves nothing behind.
//
// Every write is awaited: Bun's buffered FileSink reported a full disk only
// later, as an uncaught error, after the truncated file had been renamed
// into place and "saved" printed.
import { open, rename, unlink, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import type { SnapshotChunk } from "../gen/dkv/v1/maintenance_pb.ts";
import { toNumber } from "./convert.ts";
import { LocalFileError, SnapshotIntegrityError } from "./errors.ts";

export interface WrittenSnapshot {
  sizeBytes: number;
  sha256: string;
  index: number;
}

/**
 * Streams chunks into `path` (via a ".part" file) and verifies the checksum of
 * the last chunk. The stream is opened only once the file is: a call started
 * and never read would fail later with nobody to hear it.
 */
export async function writeVerifiedSnapshot(openStream: () => AsyncIterable<SnapshotChunk>, path: string): Promise<WrittenSnapshot> {
  const partPath = `${path}.part`;
  const file = await local(path, () => open(partPath, "w"));
  const chunks = openStream();
  const hasher = new Bun.CryptoHasher("sha256");
  let sizeBytes = 0;
  let last: SnapshotChunk | undefined;
  let closed = false;
  try {
    for await (const chunk of chunks) {
      if (last?.sha256) throw new SnapshotIntegrityError(`snapshot stream sent data after its checksum chunk; ${path} not written`);
      await local(path, () => writeAll(file, chunk.data));
      hasher.update(chunk.data);
      sizeBytes += chunk.data.byteLength;
      last = chunk;
    }
    const sha256 = hasher.digest("hex");
    checkEnding(last, sha256, sizeBytes, path);
    await local(path, () => file.sync());
    closed = true;
    await local(path, () => file.close());
    await local(path, () => rename(partPath, path));
    await local(path, () => syncDirectory(dirname(path)));
    return { sizeBytes, sha256, index: toNumber(last!.index) };
  } catch (error) {
    if (!closed) await file.close().catch(() => undefined);
    await unlink(partPath).catch(() => undefined);
    throw error;
  }
}

async function writeAll(file: FileHandle, data: Uint8Array): Promise<void> {
  for (let offset = 0; offset < data.byteLength; ) {
    const { bytesWritten } = await file.write(data, offset, data.byteLength - offset);
    offset += bytesWritten;
  }
}

/** The rename is durable only once the directory entry is. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Runs a file operation; its failure becomes one line about the backup file, not a network failure to retry elsewhere. */
async function local<T>(path: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    const code = (error as { code?: unknown })?.code;
    const reason = code === "ENOSPC" ? "no space left on device" : code === "ENOENT" ? "no such directory" : code === "EACCES" ? "permission denied" : error instanceof Error ? error.message : String(error);
    throw new LocalFileError(`cannot write the backup ${path}: ${reason}${typeof code === "string" ? ` (${code})` : ""}`);
  }
}
function checkEnding(last: SnapshotChunk | undefined, sha256: string, sizeBytes: number, path: string): void {
  if (!last?.sha256) throw new SnapshotIntegrityError(`snapshot stream ended without a checksum (incomplete backup); ${path} not written`);
  if (last.sha256.toLowerCase() !== sha256) {
    throw new SnapshotIntegrityError(`snapshot checksum mismatch: server said ${last.sha256}, received bytes hash to ${sha256}; ${path} not written`);
  }
  if (last.sizeBytes !== 0n && toNumber(last.sizeBytes) !== sizeBytes) {
    throw new SnapshotIntegrityError(`snapshot size mismatch: server said ${last.sizeBytes} bytes, received ${sizeBytes}; ${path} not written`);
  }
}
