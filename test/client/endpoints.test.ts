// Endpoint syntax: strict enough that a typo is caught before any dial.
import { describe, expect, test } from "bun:test";
import { EndpointSyntaxError, parseEndpoint, parseEndpointList } from "../../src/client/index.ts";

describe("endpoint syntax", () => {
  test("host:port becomes http, or https when TLS is on", () => {
    expect(parseEndpoint("127.0.0.1:2379", false)).toMatchObject({ address: "127.0.0.1:2379", url: "http://127.0.0.1:2379", host: "127.0.0.1", port: 2379 });
    expect(parseEndpoint("db-1.example:2379", true).url).toBe("https://db-1.example:2379");
  });

  test("an explicit scheme wins over the TLS default", () => {
    expect(parseEndpoint("http://10.0.0.1:2379", true).secure).toBe(false);
    expect(parseEndpoint("https://10.0.0.1:2379/", false).url).toBe("https://10.0.0.1:2379");
  });

  test("IPv6 needs brackets", () => {
    expect(parseEndpoint("[::1]:2379", false)).toMatchObject({ host: "::1", address: "[::1]:2379" });
    expect(() => parseEndpoint("::1:2379", false)).toThrow(EndpointSyntaxError);
  });

  test.each(["127.0.0.1", "127.0.0.1:", ":2379", "127.0.0.1:99999", "127.0.0.1:0", "ftp://h:1", "h:1/path", "h h:1", "127.0.0.1:23x"])(
    "%p is refused with a message naming it",
    (text) => {
      expect(() => parseEndpoint(text, false)).toThrow(`bad endpoint "${text}"`);
    },
  );

  test("a list keeps order, drops duplicates and blanks, refuses an empty list", () => {
    expect(parseEndpointList("a:1, b:2,a:1,", false).map((e) => e.address)).toEqual(["a:1", "b:2"]);
    expect(() => parseEndpointList(" , ", false)).toThrow("no endpoints given");
  });
});
