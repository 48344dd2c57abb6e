// The load generator's HTTP/1.1 header reading (bench/compare/http1-head.ts):
// a wrong length would make it cut responses short or wait for ever.
import { describe, expect, test } from "bun:test";
import { contentLength, HEADER_END, isChunked } from "../../bench/compare/http1-head";

function head(text: string): { buf: Buffer; end: number } {
  const buf = Buffer.from(text, "latin1");
  return { buf, end: buf.indexOf(HEADER_END) };
}

describe("reading an HTTP/1.1 header block", () => {
  test("Content-Length in any letter case, with or without spaces, wherever it sits", () => {
    for (const text of [
      "HTTP/1.1 200 OK\r\nContent-Length: 42\r\nContent-Type: application/proto\r\n\r\nbody",
      "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length:42\r\n\r\n",
      "HTTP/1.1 200 OK\r\nCONTENT-LENGTH:   42\r\n\r\n",
    ]) {
      const { buf, end } = head(text);
      expect(contentLength(buf, end)).toBe(42);
      expect(isChunked(buf, end)).toBe(false);
    }
  });

  test("no length: absent, not a number, or only in the body", () => {
    for (const text of [
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n\r\nContent-Length: 5\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX-Content-Length: 7\r\n\r\n",
    ]) {
      const { buf, end } = head(text);
      expect(contentLength(buf, end)).toBeUndefined();
    }
  });

  test("chunked transfer encoding is recognised in any letter case, and only as a header", () => {
    const chunked = (text: string) => {
      const { buf, end } = head(text);
      return isChunked(buf, end);
    };
    expect(chunked("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n")).toBe(true);
    expect(chunked("HTTP/1.1 200 OK\r\ntransfer-encoding:chunked\r\n\r\n")).toBe(true);
    expect(chunked("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")).toBe(false);
    expect(chunked("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nTransfer-Encoding: chunked\r\n\r\n")).toBe(false);
  });
});
