// Writes a server-streamed backup to a file and proves it arrived whole: the
// bytes are hashed as they are written and compared with the SHA-256 the
// server sends on its last chunk. The file appears under its final name only
// when verified; a failed download leaves nothing behind.
import { rename, unlink } from "node:fs/promises";
import type { SnapshotChunk } from "../gen/dkv/v1/maintenance_pb.ts";
import { toNumber } from "./convert.ts";
import { SnapshotIntegrityError } from "./errors.ts";

export interface WrittenSnapshot {
  sizeBytes: number;
  sha256: string;
  index: number;
}

/** Streams chunks into `path` (via a ".part" file) and verifies the checksum of the last chunk. */
export async function writeVerifiedSnapshot(chunks: AsyncIterable<SnapshotChunk>, path: string): Promise<WrittenSnapshot> {
  const partPath = `${path}.part`;
  const writer = Bun.file(partPath).writer();
  const hasher = new Bun.CryptoHasher("sha256");
  let sizeBytes = 0;
  let last: SnapshotChunk | undefined;
  try {
    for await (const chunk of chunks) {
      if (last?.sha256) throw new SnapshotIntegrityError(`snapshot stream sent data after its checksum chunk; ${path} not written`);
      writer.write(chunk.data);
      hasher.update(chunk.data);
      sizeBytes += chunk.data.byteLength;
      last = chunk;
    }
    await writer.end();
    const sha256 = hasher.digest("hex");
    checkEnding(last, sha256, sizeBytes, path);
    await rename(partPath, path);
    return { sizeBytes, sha256, index: toNumber(last!.index) };
  } catch (error) {
    await Promise.resolve(writer.end()).catch(() => undefined);
    await unlink(partPath).catch(() => undefined);
    throw error;
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
