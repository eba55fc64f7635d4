// What a gthread worker process and its threads say to each other. Bodies
// travel on their own MessagePorts (stream_port.ts); one thread runs one
// request at a time, so a request needs no id.

import type { RemoteAddr } from "../http/types.ts";

/** Process → thread. */
export type ToThread =
  | { t: "load"; app: string; cwd: string }
  | {
    t: "request";
    method: string;
    url: string;
    headers: [string, string][];
    body: MessagePort | null;
    remote: RemoteAddr;
    family: string;
  }
  | { t: "ping" };

/** Thread → process. */
export type FromThread =
  | { t: "loaded" }
  | { t: "load-failed"; message: string }
  | {
    t: "response";
    status: number;
    statusText: string;
    headers: [string, string][];
    /**
     * A body complete when the app returned travels inline (and the request is over); one
     * still being produced streams over the port, followed by "done".
     */
    body: Uint8Array | MessagePort | null;
  }
  /** The app threw or returned something that is not a Response (the request is over). */
  | { t: "app-error"; name: string; message: string; stack: string }
  /** A streamed response body is fully sent (or abandoned): the request is over. */
  | { t: "done" }
  | { t: "pong" };
