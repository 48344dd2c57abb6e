// Flags become one validated configuration; each mistake is named.
import { describe, expect, test } from "bun:test";
import { buildConfig, ConfigError, parseInitialCluster } from "../../src/server/config.ts";

describe("serve configuration", () => {
  test("no flags at all gives a working single-node store on loopback", () => {
    const config = buildConfig({});
    expect(config.name).toBe("default");
    expect(config.dataDir).toBe("./dkv-data");
    expect(config.listenClientAddress).toBe("127.0.0.1:2379");
    expect(config.listenPeerAddress).toBe("127.0.0.1:2380");
    expect(config.initialCluster).toEqual([{ name: "default", peerAddress: "127.0.0.1:2380" }]);
    expect(config.heartbeatIntervalMs).toBe(100);
    expect(config.electionTimeoutMs).toBe(1000);
    expect(config.snapshotCount).toBe(100_000);
    expect(config.peerTls).toBeUndefined();
  });

  test("--initial-cluster is parsed etcd-style, URL schemes dropped", () => {
    expect(parseInitialCluster("n0=127.0.0.1:2380,n1=http://dkv-1.dkv.default.svc:2380")).toEqual([
      { name: "n0", peerAddress: "127.0.0.1:2380" },
      { name: "n1", peerAddress: "dkv-1.dkv.default.svc:2380" },
    ]);
  });

  test.each([
    [{ "initial-cluster": "n0" }, /name=host:port/],
    [{ "initial-cluster": "n0=a:1,n0=b:2", name: "n0" }, /twice/],
    [{ "initial-cluster": "n1=a:1" }, /must list this member's --name "default"/],
    [{ "listen-peer-address": "nope" }, /--listen-peer-address must be host:port/],
    [{ "listen-client-address": "0.0.0.0:2379" }, /--advertise-client-address is needed/],
    [{ "initial-cluster-state": "maybe" }, /"new" or "existing"/],
    [{ "initial-cluster-state": "existing" }, /needs --initial-cluster listing the running members/],
    [{ "peer-cert-file": "a.crt" }, /all three/],
    [{ "trusted-ca-file": "ca.crt" }, /--trusted-ca-file needs --cert-file/],
    [{ "heartbeat-interval": "100ms", "election-timeout": "200ms" }, /at least 3x/],
    [{ "election-timeout": "soon" }, /duration like 100ms/],
    [{ "snapshot-count": "-5" }, /positive integer/],
    [{ "quota-bytes": "2GiB" }, /--quota-bytes must be a positive integer/],
    [{ "api-worker": "yes" }, /--api-worker must be true or false, not "yes"/],
    [{ name: "bad name!" }, /member name/],
    [{ "log-level": "loud" }, /--log-level/],
  ] as const)("refuses %o with a message naming the flag", (flags, message) => {
    expect(() => buildConfig(flags)).toThrow(ConfigError);
    expect(() => buildConfig(flags)).toThrow(message);
  });

  test("durations accept ms and s", () => {
    const config = buildConfig({ "heartbeat-interval": "50ms", "election-timeout": "1.5s" });
    expect(config.heartbeatIntervalMs).toBe(50);
    expect(config.electionTimeoutMs).toBe(1500);
  });
});
