// Writing certificate material to disk: private keys are created with mode
// 0600 from the start (never widened then narrowed), and existing files are
// never replaced unless the caller asked for it.
import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { CertError } from "./errors";
import { CERT_DIR_MODE } from "./limits";

export interface PendingFile {
  path: string;
  contents: string;
  mode: number;
}

/** Creates DIR (owner-only) if missing; the new directories' entries are fsynced, so a power cut keeps them. */
export function ensureCertDir(dir: string): void {
  try {
    const first = mkdirSync(dir, { recursive: true, mode: CERT_DIR_MODE });
    if (first === undefined) return;
    for (let created = dir; ; created = dirname(created)) {
      fsyncDirectory(dirname(created));
      if (created === first || dirname(created) === created) break;
    }
  } catch (error) {
    throw new CertError(`cannot create directory ${dir}: ${describeFsError(error)}`);
  }
}

/** A rename or a new file is durable only once its directory is fsynced. */
function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes all files or, when one already exists and `force` is false, none.
 * Each file lands atomically (temporary file + rename) with its final mode.
 */
export function writeFilesRefusingOverwrite(files: PendingFile[], force: boolean): void {
  if (!force) {
    for (const file of files) {
      if (existsSync(file.path)) {
        throw new CertError(`${file.path} already exists; refusing to overwrite it (use --force to replace it)`);
      }
    }
  }
  for (const file of files) writeFileAtomically(file, force);
  try {
    for (const dir of new Set(files.map((file) => dirname(file.path)))) fsyncDirectory(dir);
  } catch (error) {
    throw new CertError(`cannot sync the directory of ${files[0]?.path}: ${describeFsError(error)}`);
  }
}

function writeFileAtomically(file: PendingFile, replace: boolean): void {
  const temporaryPath = join(dirname(file.path), `.${process.pid}.${crypto.randomUUID()}.tmp`);
  try {
    // "wx": the temporary name is ours alone; the mode applies at creation.
    const fd = openSync(temporaryPath, "wx", file.mode);
    try {
      chmodSync(temporaryPath, file.mode); // the umask may have narrowed it; never widened beyond `mode`
      writeSync(fd, file.contents);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (!replace && existsSync(file.path)) {
      throw new CertError(`${file.path} already exists; refusing to overwrite it (use --force to replace it)`);
    }
    renameSync(temporaryPath, file.path);
  } catch (error) {
    try {
      unlinkSync(temporaryPath);
    } catch {
      // already renamed or never created
    }
    if (error instanceof CertError) throw error;
    throw new CertError(`cannot write ${file.path}: ${describeFsError(error)}`);
  }
}

/** "permission denied" rather than a stack of errno details. */
export function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a directory";
    case "ENOTDIR":
      return "a parent is not a directory";
    case "EROFS":
      return "read-only file system";
    case "ENOSPC":
      return "no space left on device";
    default:
      return error instanceof Error ? error.message : String(error);
  }
}
