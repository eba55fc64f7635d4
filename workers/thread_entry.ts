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
  // Headers are appended after construction: a headers init goes through a much slower
  // conversion in both runtimes.
  const request = message.body
    ? new Request(message.url, {
      method: message.method,
      body: receiveStream(message.body),
      duplex: "half",
    } as RequestInit)
    : message.method === "GET"
    ? new Request(message.url)
    : new Request(message.url, { method: message.method });
  const headers = request.headers;
  for (const [name, value] of message.headers) headers.append(name, value);
  let response: unknown;
  try {
    response = await app!(request, info);
    if (!(response instanceof Response)) {
      throw new TypeError(`app handler returned ${typeof response} instead of a Response`);
    }
  } catch (error) {
    reportError(error);
    return;
  }
  const head = {
    status: response.status,
    statusText: response.statusText,
    headers: [...response.headers],
  };
  const body = response.body;
  if (!body) {
    post({ t: "response", ...head, body: null });
    return;
  }
  // A body that is already complete (the common case) travels inside the message; only one
  // still being produced gets a port of its own, so its first chunk is not held back.
  const reader = body.getReader();
  const p1 = reader.read();
  const p2 = reader.read();
  let first: ReadableStreamReadResult<Uint8Array>;
  let second: ReadableStreamReadResult<Uint8Array> | typeof NOT_YET;
  try {
    first = await p1;
    second = first.done ? first : await Promise.race([p2, NOT_YET_PROMISE]);
    // Some bodies (Bun's) settle a few microtasks later: give them until the next turn.
    if (second === NOT_YET) second = await Promise.race([p2, nextTurn()]);
  } catch (error) {
    p2.catch(() => {});
    reportError(error);
    return;
  }
  if (second !== NOT_YET && second.done) {
    post({ t: "response", ...head, body: first.done ? new Uint8Array(0) : first.value });
    return;
  }
  const { port1, port2 } = new MessageChannel();
  post({ t: "response", ...head, body: port2 }, [port2]);
  await sendStream(resumed(reader, first.value!, second === NOT_YET ? p2 : second), port1);
  post({ t: "done" });
}

const NOT_YET = Symbol("not yet");
const NOT_YET_PROMISE: Promise<typeof NOT_YET> = Promise.resolve(NOT_YET);

function nextTurn(): Promise<typeof NOT_YET> {
  return new Promise((resolve) => setTimeout(resolve, 0, NOT_YET));
}

/** The rest of a body whose first chunk and second read were taken already. */
function resumed(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  first: Uint8Array,
  second: ReadableStreamReadResult<Uint8Array> | Promise<ReadableStreamReadResult<Uint8Array>>,
): ReadableStream<Uint8Array> {
  let step = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const r = step === 0
        ? { done: false, value: first }
        : step === 1
        ? await second
        : await reader.read();
      step++;
      if (r.done) controller.close();
      else controller.enqueue(r.value);
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

function reportError(error: unknown): void {
  const e = error instanceof Error ? error : new Error(String(error));
  post({ t: "app-error", name: e.name, message: e.message, stack: e.stack ?? "" });
}

// Requests the process queued here run one after the other, never two at once.
const queue: Extract<ToThread, { t: "request" }>[] = [];
let running = false;

async function drain(): Promise<void> {
  running = true;
  while (queue.length > 0) {
    try {
      await run(queue.shift()!);
    } catch (error) {
      // Not the app's error (run() reports those): the process cannot be told; say it here.
      console.error(`appserve thread: ${error}`);
    }
  }
  running = false;
}

scope.onmessage = (event: MessageEvent<ToThread>) => {
  const message = event.data;
  if (message.t === "request") {
    queue.push(message);
    if (!running) drain();
  } else if (message.t === "ping") post({ t: "pong" });
  else if (message.t === "load") load(message.app, message.cwd);
};
