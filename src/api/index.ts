// The client API room: start it with startApiServer (see options.ts for the options).
export { startApiServer, type ApiServerHandle } from "./server.js";
export {
  ApiServerError,
  DEFAULT_IDLE_TIMEOUT_SECONDS,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_READY_CHECK_TIMEOUT_MS,
  DEFAULT_STOP_GRACE_MS,
  type ApiServerOptions,
} from "./options.js";
