// Reading an HTTP/1.1 header block straight from the received bytes, for the
// load generator's client (http1.ts) and bench/api's raw server
// (raw-http1.ts): no string is built per message, so neither spends CPU the
// measured server could have used on the same cores.

export const HEADER_END = Buffer.from("\r\n\r\n");
/** A header block larger than this is malformed for our purposes. */
export const MAX_HEADER_BYTES = 16 * 1024;
const CONTENT_LENGTH = Buffer.from("\r\ncontent-length:");
const TRANSFER_ENCODING = Buffer.from("\r\ntransfer-encoding:");
const CHUNKED = Buffer.from("chunked");

/** Where the value of header `name` ("\r\nname:", lower case) starts in the block ending at headerEnd, spaces skipped; -1 when absent. */
function valueAt(buf: Uint8Array, headerEnd: number, name: Uint8Array): number {
  for (let line = buf.indexOf(0x0d); line >= 0 && line < headerEnd; line = buf.indexOf(0x0d, line + 1)) {
    let matches = true;
    for (let i = 0; i < name.length && matches; i++) matches = (buf[line + i]! | 0x20) === (name[i]! | 0x20);
    if (!matches) continue;
    let at = line + name.length;
    while (buf[at] === 0x20) at++;
    return at;
  }
  return -1;
}

/** The Content-Length of the header block ending at headerEnd; undefined when absent or not a number. */
export function contentLength(buf: Uint8Array, headerEnd: number): number | undefined {
  let at = valueAt(buf, headerEnd, CONTENT_LENGTH);
  if (at < 0) return undefined;
  let value = 0;
  let digits = 0;
  for (; buf[at]! >= 0x30 && buf[at]! <= 0x39; at++, digits++) value = value * 10 + buf[at]! - 0x30;
  return digits > 0 ? value : undefined;
}

/** Whether the header block ending at headerEnd says Transfer-Encoding: chunked. */
export function isChunked(buf: Uint8Array, headerEnd: number): boolean {
  const at = valueAt(buf, headerEnd, TRANSFER_ENCODING);
  if (at < 0) return false;
  for (let i = 0; i < CHUNKED.length; i++) if ((buf[at + i]! | 0x20) !== CHUNKED[i]) return false;
  return true;
}
