// One Connect transport (binary protocol over Bun's fetch) per endpoint, with
// the TLS material attached to every request. Fetch errors are rethrown as
// TransportFailure so the retry loop can tell "never connected" from "lost".
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { DkvAPI } from "../gen/dkv/v1/kv_pb.ts";
import { MaintenanceAPI } from "../gen/dkv/v1/maintenance_pb.ts";
import { MembershipAPI } from "../gen/dkv/v1/membership_pb.ts";
import type { Endpoint } from "./endpoints.ts";
import { transportFailureFrom } from "./failure.ts";

/** PEM text (not paths): the caller reads the files, so errors name the file. */
export interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
  /** Name to verify in the server certificate instead of the endpoint's host. */
  serverName?: string;
}

export interface EndpointClients {
  endpoint: Endpoint;
  kv: Client<typeof DkvAPI>;
  membership: Client<typeof MembershipAPI>;
  maintenance: Client<typeof MaintenanceAPI>;
}

/** `authorization`: the Authorization header sent with every call (a user's password), if any. */
export function createEndpointClients(endpoint: Endpoint, tls: TlsMaterial | undefined, authorization?: string): EndpointClients {
  const tlsOptions = endpoint.secure ? { ...tls, rejectUnauthorized: true } : undefined;
  const fetchWithTls = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    try {
      return await fetch(input, { ...init, tls: tlsOptions });
    } catch (error) {
      // An abort is Connect's own doing (timeout/cancel); it reads the reason from the signal.
      if (init?.signal?.aborted) throw error;
      throw transportFailureFrom(error, endpoint.secure);
    }
  };
  const transport = createConnectTransport({
    baseUrl: endpoint.url,
    useBinaryFormat: true,
    fetch: fetchWithTls as typeof fetch,
    ...(authorization === undefined ? {} : { interceptors: [withAuthorization(authorization)] }),
  });
  return {
    endpoint,
    kv: createClient(DkvAPI, transport),
    membership: createClient(MembershipAPI, transport),
    maintenance: createClient(MaintenanceAPI, transport),
  };
}

function withAuthorization(value: string): Interceptor {
  return (next) => (request) => {
    request.header.set("Authorization", value);
    return next(request);
  };
}

/** HTTP Basic authentication of a user name and password. */
export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, "utf8").toString("base64")}`;
}
