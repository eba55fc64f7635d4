// Entry point of a gthread thread (a Web Worker inside a worker process): it
// imports the app itself, so each thread holds its own instance, and runs the
// requests the process hands it, one at a time.

import { loadApp } from "../src/app/load_app.ts";
import { AppLoadError, firstLine } from "../src/errors.ts";
import type { FetchHandler, ServeInfo } from "../src/http/types.ts";
import { receiveStream, sendStream } from "../src/worker/stream_port.ts";
import type { FromThread, ToThread } from "../src/worker/thread_messages.ts";

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;
let app: FetchHandler | undefined;

function post(message: FromThread, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

async function load(spec: string, cwd: string): Promise<void> {
  try {
    app = await loadApp(spec, cwd);
    post({ t: "loaded" });
  } catch (error) {
    post({
      t: "load-failed",
      message: error instanceof AppLoadError
        ? error.message
        : `Cannot load app: ${firstLine(error)}`,
    });
  }
}

async function run(message: Extract<ToThread, { t: "request" }>): Promise<void> {
  const { remote, family } = message;
  const info: ServeInfo = {
    remoteAddr: remote,
    requestIP: () =>
      remote.transport === "unix" ? null : { address: remote.hostname, family, port: remote.port },
  };
  const init: RequestInit & { duplex?: "half" } = {
    method: message.method,
    headers: message.headers,
  };
  if (message.body) {
    init.body = receiveStream(message.body);
    init.duplex = "half";
  }
  let response: unknown;
  try {
    response = await app!(new Request(message.url, init), info);
    if (!(response instanceof Response)) {
      throw new TypeError(`app handler returned ${typeof response} instead of a Response`);
    }
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    post({ t: "app-error", name: e.name, message: e.message, stack: e.stack ?? "" });
    post({ t: "done" });
    return;
  }
  const { port1, port2 } = new MessageChannel();
  const body = response.body;
  post({
    t: "response",
    status: response.status,
    statusText: response.statusText,
    headers: [...response.headers],
    body: body ? port2 : null,
  }, body ? [port2] : []);
  if (body) await sendStream(body, port1);
  else port1.close();
  post({ t: "done" });
}

scope.onmessage = (event: MessageEvent<ToThread>) => {
  const message = event.data;
  if (message.t === "request") run(message);
  else if (message.t === "ping") post({ t: "pong" });
  else if (message.t === "load") load(message.app, message.cwd);
};
