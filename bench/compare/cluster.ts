// What the benchmark needs from a store's cluster, whichever store it is.
import type { Subprocess } from "bun";

export interface Endpoint {
  host: string;
  port: number;
}

export interface ServerMember {
  name: string;
  host: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  process?: Subprocess<"ignore", "pipe", "pipe">;
  output: string[];
}

export interface ServerCluster {
  readonly name: string;
  readonly members: ServerMember[];
  start(): Promise<void>;
  /** The current leader's client endpoint, found the way a client would. */
  leader(): Promise<Endpoint | undefined>;
  endpoints(): Endpoint[];
  /** Member process ids, for CPU accounting. */
  pids(): number[];
  alive(): boolean;
  logs(lines?: number): string;
  stop(): Promise<void>;
}
