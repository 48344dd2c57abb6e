// deploy/kubernetes: the manifests parse (Bun.YAML) and say what matters — 3
// replicas behind a headless Service, pod name as --name, the member list
// from the stable DNS names, peer TLS from a read-only Secret, probes on
// /readyz and /healthz, a PVC per pod at the data dir, a NodePort for
// clients — and every member's flags pass dkv's own configuration checks.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { buildConfig, type ServeFlags } from "../../src/server/config.ts";
import { serveCommand } from "../../src/cli/serve.ts";
import { PROJECT_ROOT } from "./release-fixture.ts";

const MANIFEST_DIR = join(PROJECT_ROOT, "deploy/kubernetes");

// Manifests are untyped YAML; the assertions below are the schema.
type Json = Record<string, any>;

function loadManifests(): Json[] {
  const documents: Json[] = [];
  for (const file of readdirSync(MANIFEST_DIR).filter((name) => name.endsWith(".yaml")).sort()) {
    const parsed = Bun.YAML.parse(readFileSync(join(MANIFEST_DIR, file), "utf8")) as Json | Json[];
    for (const document of Array.isArray(parsed) ? parsed : [parsed]) {
      if (document === null) continue;
      if (typeof document.kind !== "string") throw new Error(`${file}: a document without kind`);
      documents.push({ ...document, __file: file });
    }
  }
  return documents;
}

const manifests = loadManifests();

function find(kind: string, name: string): Json {
  const found = manifests.filter((m) => m.kind === kind && m.metadata?.name === name);
  if (found.length !== 1) throw new Error(`expected exactly one ${kind} ${name}, found ${found.length}`);
  return found[0]!;
}

const statefulSet = find("StatefulSet", "dkv");
const podSpec: Json = statefulSet.spec.template.spec;
const container: Json = podSpec.containers.find((c: Json) => c.name === "dkv");
const podLabels: Json = statefulSet.spec.template.metadata.labels;

/** "--flag=value" args of `dkv serve` as a map (every flag written with "=", once). */
function serveFlags(args: string[]): Map<string, string> {
  expect(args[0]).toBe("serve");
  const flags = new Map<string, string>();
  for (const arg of args.slice(1)) {
    const match = /^--([a-z][a-z0-9-]*)=(.*)$/.exec(arg);
    if (!match) throw new Error(`serve argument "${arg}" is not --flag=value`);
    if (flags.has(match[1]!)) throw new Error(`--${match[1]} is given twice`);
    flags.set(match[1]!, match[2]!);
  }
  return flags;
}

const flags = serveFlags(container.args);

/** What Kubernetes makes of $(VAR) for one pod. */
function expand(value: string, pod: string, namespace: string): string {
  return value.replaceAll("$(POD_NAME)", pod).replaceAll("$(POD_NAMESPACE)", namespace);
}

function containerPort(port: string | number): number {
  if (typeof port === "number") return port;
  const named = container.ports.find((p: Json) => p.name === port);
  if (!named) throw new Error(`no container port named ${port}`);
  return named.containerPort;
}

function matchesPods(selector: Json): boolean {
  return Object.entries(selector).every(([key, value]) => podLabels[key] === value);
}

describe("deploy/kubernetes", () => {
  test("every document parses and the kustomization lists every manifest file", () => {
    const [kustomization, ...more] = manifests.filter((m) => m.kind === "Kustomization");
    expect(more).toHaveLength(0);
    const files = [...new Set(manifests.filter((m) => m.kind !== "Kustomization").map((m) => m.__file))].sort();
    expect([...(kustomization?.resources ?? [])].sort()).toEqual(files);
  });

  test("a StatefulSet of 3 members behind the headless Service dkv, started in parallel", () => {
    expect(statefulSet.apiVersion).toBe("apps/v1");
    expect(statefulSet.spec.replicas).toBe(3);
    expect(statefulSet.spec.serviceName).toBe("dkv");
    expect(statefulSet.spec.podManagementPolicy).toBe("Parallel");
    expect(matchesPods(statefulSet.spec.selector.matchLabels)).toBe(true);
    expect(container.command).toEqual(["/usr/local/bin/dkv"]);
  });

  test("the headless Service: clusterIP None, publishes unready pods, selects the members, carries the peer port", () => {
    const headless = find("Service", "dkv");
    expect(headless.spec.clusterIP).toBe("None");
    expect(headless.spec.publishNotReadyAddresses).toBe(true);
    expect(matchesPods(headless.spec.selector)).toBe(true);
    const peer = headless.spec.ports.find((p: Json) => p.name === "peer");
    expect(containerPort(peer.targetPort)).toBe(2380);
  });

  test("the client Service is a NodePort onto the client port", () => {
    const client = find("Service", "dkv-client");
    expect(client.spec.type).toBe("NodePort");
    expect(matchesPods(client.spec.selector)).toBe(true);
    const [port] = client.spec.ports;
    expect(containerPort(port.targetPort)).toBe(2379);
    expect(port.nodePort).toBeGreaterThanOrEqual(30000);
    expect(port.nodePort).toBeLessThanOrEqual(32767);
  });

  test("the pod name is --name, taken from the downward API", () => {
    expect(flags.get("name")).toBe("$(POD_NAME)");
    const env = (name: string) => container.env.find((e: Json) => e.name === name)?.valueFrom?.fieldRef?.fieldPath;
    expect(env("POD_NAME")).toBe("metadata.name");
    expect(env("POD_NAMESPACE")).toBe("metadata.namespace");
  });

  test("--initial-cluster lists every replica by its stable DNS name, and each advertises its own", () => {
    const replicas: number = statefulSet.spec.replicas;
    const expected = Array.from({ length: replicas }, (_, i) => `dkv-${i}=dkv-${i}.dkv.$(POD_NAMESPACE).svc.cluster.local:2380`).join(",");
    expect(flags.get("initial-cluster")).toBe(expected);
    expect(flags.get("advertise-peer-address")).toBe("$(POD_NAME).dkv.$(POD_NAMESPACE).svc.cluster.local:2380");
    expect(flags.get("listen-client-address")).toBe(`0.0.0.0:${containerPort("client")}`);
    expect(flags.get("listen-peer-address")).toBe(`0.0.0.0:${containerPort("peer")}`);
  });

  test("each member's flags pass dkv's configuration checks, and it advertises what the others dial", () => {
    const known = new Set(Object.keys((serveCommand as { args: Record<string, unknown> }).args));
    for (const flag of flags.keys()) expect(`--${flag} known: ${known.has(flag)}`).toBe(`--${flag} known: true`);
    for (let i = 0; i < statefulSet.spec.replicas; i++) {
      const pod = `dkv-${i}`;
      const expanded = Object.fromEntries([...flags].map(([flag, value]) => [flag, expand(value, pod, "prod")])) as ServeFlags;
      const config = buildConfig(expanded);
      expect(config.name).toBe(pod);
      expect(config.initialCluster.find((m) => m.name === pod)?.peerAddress).toBe(config.advertisePeerAddress);
      expect(config.advertisePeerAddress).toBe(`${pod}.dkv.prod.svc.cluster.local:2380`);
      expect(config.peerTls).toBeDefined();
    }
  });

  test("peer certificates come from a Secret mounted read-only, under the names the README creates", () => {
    const mount = container.volumeMounts.find((m: Json) => m.mountPath === dirname(flags.get("peer-cert-file")!));
    expect(mount?.readOnly).toBe(true);
    const volume = podSpec.volumes.find((v: Json) => v.name === mount.name);
    expect(volume.secret.secretName).toBe("dkv-peer-tls");
    const readme = readFileSync(join(MANIFEST_DIR, "README.md"), "utf8");
    expect(readme).toContain("create secret generic dkv-peer-tls");
    for (const flag of ["peer-cert-file", "peer-key-file", "peer-trusted-ca-file"]) {
      const path = flags.get(flag)!;
      expect(dirname(path)).toBe(mount.mountPath);
      expect(readme).toContain(`--from-file=${basename(path)}=`);
    }
  });

  test("readiness is GET /readyz and liveness GET /healthz on the client port", () => {
    for (const [probe, path] of [["readinessProbe", "/readyz"], ["livenessProbe", "/healthz"]] as const) {
      expect(container[probe].httpGet.path).toBe(path);
      expect(containerPort(container[probe].httpGet.port)).toBe(2379);
    }
  });

  test("each pod gets its own PVC, mounted above the data dir", () => {
    const [claim] = statefulSet.spec.volumeClaimTemplates;
    expect(claim.spec.accessModes).toEqual(["ReadWriteOnce"]);
    expect(claim.spec.resources.requests.storage).toMatch(/^\d+[GT]i$/);
    const mount = container.volumeMounts.find((m: Json) => m.name === claim.metadata.name);
    expect(flags.get("data-dir")!.startsWith(`${mount.mountPath}/`)).toBe(true);
    // Not a volume of the pod template: then it would be shared, not per pod.
    expect(podSpec.volumes.some((v: Json) => v.name === claim.metadata.name)).toBe(false);
  });

  test("a PodDisruptionBudget keeps the quorum during drains", () => {
    const budget = find("PodDisruptionBudget", "dkv");
    expect(budget.spec.maxUnavailable).toBe(1);
    expect(matchesPods(budget.spec.selector.matchLabels)).toBe(true);
  });
});
