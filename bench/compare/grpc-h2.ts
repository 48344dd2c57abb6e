// A lean unary gRPC client over node:http2 (h2c, prior knowledge), for
// etcd's native API. @grpc/grpc-js costs ~200 µs CPU per call here and would
// starve etcd of the cores it shares with the load generator (BENCH-NOTES);
// this client sends pre-encoded, pre-framed messages and only checks the
// status and the response frame.
import http2 from "node:http2";

export type GrpcDone = (error: Error | undefined, body: Uint8Array) => void;

/** Concurrent calls per HTTP/2 connection: what a pooled client would multiplex (BENCH-NOTES). */
export const CALLS_PER_CONNECTION = 64;

const EMPTY = new Uint8Array(0);

export class GrpcConnection {
  private constructor(
    private readonly session: http2.ClientHttp2Session,
    readonly host: string,
    readonly port: number,
  ) {}

  static open(host: string, port: number): Promise<GrpcConnection> {
    return new Promise((resolve, reject) => {
      const session = http2.connect(`http://${host}:${port}`);
      session.once("connect", () => resolve(new GrpcConnection(session, host, port)));
      session.once("error", reject);
      // A session error after connect fails the calls in flight through their own streams.
      session.on("error", () => {});
    });
  }

  get closed(): boolean {
    return this.session.closed || this.session.destroyed;
  }

  /** One unary call. `frame` is the request message with its 5-byte gRPC prefix. */
  call(path: string, frame: Uint8Array, done: GrpcDone): void {
    let stream: http2.ClientHttp2Stream;
    try {
      stream = this.session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
    } catch (error) {
      return done(error as Error, EMPTY);
    }
    let grpcStatus: string | undefined;
    let grpcMessage: string | undefined;
    let httpStatus = 0;
    let body: Buffer | undefined;
    let finished = false;
    const finish = (error: Error | undefined) => {
      if (finished) return;
      finished = true;
      if (!error && httpStatus !== 200) error = new Error(`HTTP status ${httpStatus}`);
      if (!error && grpcStatus !== "0") error = new Error(`grpc-status ${grpcStatus ?? "missing"}: ${grpcMessage ?? ""}`);
      done(error, error ? EMPTY : (body ?? EMPTY));
    };
    stream.on("response", (headers) => {
      httpStatus = Number(headers[":status"]);
      // A trailers-only answer (an error) carries grpc-status in the headers.
      if (headers["grpc-status"] !== undefined) {
        grpcStatus = String(headers["grpc-status"]);
        grpcMessage = headers["grpc-message"] as string | undefined;
      }
    });
    stream.on("data", (chunk: Buffer) => {
      body = body ? Buffer.concat([body, chunk]) : chunk;
    });
    stream.on("trailers", (trailers) => {
      grpcStatus = String(trailers["grpc-status"]);
      grpcMessage = trailers["grpc-message"] as string | undefined;
    });
    stream.on("error", (error) => finish(error));
    stream.on("close", () => finish(stream.rstCode && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR ? new Error(`stream reset (code ${stream.rstCode})`) : undefined));
    stream.end(frame);
  }

  close(): void {
    this.session.close();
  }
}
