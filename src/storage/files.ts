// Durability helpers for plain files: a rename or a new file is only durable
// once its directory is fsynced, and file data only once the file is.

import { closeSync, fsyncSync, openSync, readSync } from "node:fs";

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
