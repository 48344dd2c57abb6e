// For test files only (it registers a bun:test hook; cluster.ts is also used by
// the chaos runner outside the test runner).
import { afterEach } from "bun:test";
import { Cluster, type ClusterOptions } from "./cluster.ts";

/** Clusters made through the returned function are killed and their dirs removed after each test, also a failed one. */
export function clustersStoppedAfterEach(): (options: ClusterOptions) => Cluster {
  const clusters: Cluster[] = [];
  afterEach(async () => {
    for (const cluster of clusters.splice(0)) {
      await cluster.stopAll();
      cluster.cleanup();
    }
  });
  return (options) => {
    const cluster = new Cluster(options);
    clusters.push(cluster);
    return cluster;
  };
}
