// Durability helpers for plain files: a rename or a new file is only durable
// once its directory is fsynced, and file data only once the file is.

import { closeSync, fsyncSync, mkdirSync, openSync, readSync } from "node:fs";
import { dirname } from "node:path";

export function fsyncFile(path: string): void {
  const fd = openSync(path, "r+");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Makes creations, renames and deletions inside `dir` durable. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * mkdir -p whose result survives a power cut: the entry of each directory it
 * creates is fsynced in the parent. A later fsync of a file inside does not
 * do that, so without it a new data dir's snap/ could vanish with its images.
 */
export function makeDirectoryDurably(dir: string): void {
  const first = mkdirSync(dir, { recursive: true });
  if (first === undefined) return;
  for (let created = dir; ; created = dirname(created)) {
    fsyncDirectory(dirname(created));
    if (created === first || dirname(created) === created) break;
  }
}

/** Reads exactly `length` bytes at `position` (short reads are retried). */
export function readExactly(fd: number, length: number, position: number): Uint8Array {
  const buffer = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const read = readSync(fd, buffer, done, length - done, position + done);
    if (read === 0) throw new Error(`unexpected end of file after ${position + done} bytes`);
    done += read;
  }
  return buffer;
}
