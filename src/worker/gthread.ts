// The gthread worker class: a pool of Web Worker threads inside one worker
// process, each with its own instance of the app. The process keeps the HTTP
// layer and the heartbeat; every request goes to a free thread, which runs one
// request at a time (as gunicorn's threads do); the rest wait in order.
//
// A thread is replaced when it crashes, stops answering pings, or holds a
// request past `timeout` before answering it (that request gets a 504). The
// worker process itself stays up: its event loop never runs app code, so its
// heartbeat keeps flowing while threads are busy.

import { AppLoadError, firstLine } from "../errors.ts";
import type { FetchHandler, ServeInfo } from "../http/types.ts";
import type { Logger } from "../log/logger.ts";
import { receiveStream, sendStream } from "./stream_port.ts";
import type { FromThread, ToThread } from "./thread_messages.ts";

export interface PoolOptions {
  /** URL of workers/thread_entry.ts as this runtime can start it. */
  entry: string;
  threads: number;
  /** The APP_MODULE spec and the directory it is resolved from. */
  app: string;
  cwd: string;
  /** Per-request limit in ms before the response head; 0 disables. */
  timeoutMs: number;
  log: Logger;
  /** Logs the app's error and returns the 500 to send. */
  onAppError(error: unknown, request: Request): Response;
  /** No thread is left and none can be started: the process cannot serve any more. */
  onLost(): void;
}

interface Job {
  request: Request;
  info: ServeInfo;
  resolve(response: Response): void;
  /** The response head went out (resolve was called). */
  answered: boolean;
  /** Aborted when the thread dies: errors bodies still crossing. */
  gone: AbortController;
  timer?: ReturnType<typeof setTimeout>;
}

const TIMEOUT_BODY = "Gateway Timeout\n";
const CRASH_BODY = "Internal Server Error\n";

function plain(status: number, body: string): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", connection: "close" },
  });
}

/** The error of a crashed thread as one line; Bun's message carries a code frame first. */
function crashLine(event: ErrorEvent): string {
  if (event.error instanceof Error) return firstLine(event.error);
  const lines = String(event.message).split("\n");
  for (const line of lines) {
    const m = /^\s*(?:Uncaught\s+)?(\w*Error|error):\s*(.*)$/.exec(line);
    if (m) return `${m[1] === "error" ? "Error" : m[1]}: ${m[2]}`;
  }
  return lines[0];
}

function describe(request: Request): string {
  const url = new URL(request.url);
  return `${request.method} ${url.pathname}${url.search}`;
}

interface Waiting {
  request: Request;
  info: ServeInfo;
  resolve(response: Response): void;
}

class Thread {
  readonly worker: Worker;
  /** The request it runs (at most one: the rest wait in the pool, for whichever thread frees). */
  readonly jobs: Job[] = [];
  dead = false;
  /** The app is loaded; until then it answers no ping (an import may take a while). */
  loaded = false;
  /** When the unanswered ping was sent, 0 when none is pending. */
  pingSent = 0;

  constructor(readonly id: number, entry: string) {
    this.worker = new Worker(entry, { type: "module", name: `appserve-thread-${id}` });
  }

  post(message: ToThread, transfer: Transferable[] = []): void {
    this.worker.postMessage(message, transfer);
  }
}

export class ThreadPool {
  readonly #options: PoolOptions;
  readonly #threads = new Set<Thread>();
  /** Live threads with no request. */
  readonly #idle: Thread[] = [];
  /** Requests waiting for a thread to free, oldest first. */
  readonly #waiting: Waiting[] = [];
  #nextId = 1;
  #closed = false;

  private constructor(options: PoolOptions) {
    this.#options = options;
  }

  /** Starts every thread and waits until each has loaded the app; AppLoadError if one cannot. */
  static async start(options: PoolOptions): Promise<ThreadPool> {
    const pool = new ThreadPool(options);
    try {
      await Promise.all(Array.from({ length: options.threads }, () => pool.#spawn()));
    } catch (error) {
      pool.close();
      throw error;
    }
    return pool;
  }

  /** The fetch handler that runs each request on a free thread. */
  readonly handler: FetchHandler = (request, info) => {
    const thread = this.#idle.pop();
    if (thread) return this.#dispatch(thread, request, info);
    return new Promise<Response>((resolve) => this.#waiting.push({ request, info, resolve }));
  };

  /** Pings every thread; one that left the last ping unanswered for the timeout is replaced. */
  checkLiveness(): void {
    const now = performance.now();
    const limit = this.#options.timeoutMs;
    for (const thread of this.#threads) {
      if (!thread.loaded) continue;
      if (thread.pingSent === 0) {
        thread.pingSent = now;
        thread.post({ t: "ping" });
      } else if (limit > 0 && now - thread.pingSent > limit) {
        this.#kill(thread, "stopped answering (busy past the timeout)", 504);
      }
    }
  }

  /** Terminates every thread (the process is exiting). */
  close(): void {
    this.#closed = true;
    for (const thread of this.#threads) {
      thread.dead = true;
      thread.worker.terminate();
    }
    this.#threads.clear();
  }

  #spawn(): Promise<void> {
    const options = this.#options;
    const thread = new Thread(this.#nextId++, options.entry);
    this.#threads.add(thread);
    return new Promise<void>((resolve, reject) => {
      let loaded = false;
      thread.worker.onmessage = (event: MessageEvent<FromThread>) => {
        const message = event.data;
        if (message.t === "loaded") {
          loaded = true;
          thread.loaded = true;
          resolve();
          this.#fill(thread);
        } else if (message.t === "load-failed") {
          this.#threads.delete(thread);
          thread.dead = true;
          thread.worker.terminate();
          reject(new AppLoadError(`In a gthread thread: ${message.message}`));
        } else {
          this.#onMessage(thread, message);
        }
      };
      const died = (reason: string) => {
        if (!loaded) {
          this.#threads.delete(thread);
          thread.dead = true;
          thread.worker.terminate();
          reject(new AppLoadError(`In a gthread thread: app module ${options.app}: ${reason}`));
        } else {
          this.#kill(thread, reason, 500);
        }
      };
      // Unhandled, an error event in a Deno Worker also takes the parent down.
      thread.worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        died(`crashed: ${crashLine(event)}`);
      };
      thread.worker.onmessageerror = () => died("sent a message that cannot be read");
      // Bun reports a thread that ended itself (process.exit() inside it).
      thread.worker.addEventListener("close", () => died("exited"));
      thread.post({ t: "load", app: options.app, cwd: options.cwd });
    });
  }

  #dispatch(thread: Thread, request: Request, info: ServeInfo): Promise<Response> {
    return new Promise<Response>((resolve) => {
      const job: Job = { request, info, resolve, answered: false, gone: new AbortController() };
      thread.jobs.push(job);
      const transfer: Transferable[] = [];
      let bodyPort: MessagePort | null = null;
      if (request.body) {
        const { port1, port2 } = new MessageChannel();
        sendStream(request.body, port1, job.gone.signal);
        bodyPort = port2;
        transfer.push(port2);
      }
      const peer = info.requestIP(request);
      thread.post({
        t: "request",
        method: request.method,
        url: request.url,
        headers: [...request.headers],
        body: bodyPort,
        remote: info.remoteAddr,
        family: peer?.family ?? "",
      }, transfer);
      if (thread.jobs.length === 1) this.#startClock(thread);
    });
  }

  /** The thread's first request is running from now: time it. */
  #startClock(thread: Thread): void {
    const limit = this.#options.timeoutMs;
    const job = thread.jobs[0];
    if (limit <= 0 || !job) return;
    job.timer = setTimeout(
      () => this.#kill(thread, `ran ${describe(job.request)} past the timeout`, 504),
      limit,
    );
  }

  #onMessage(thread: Thread, message: FromThread): void {
    if (message.t === "pong") {
      thread.pingSent = 0;
      return;
    }
    const job = thread.jobs[0];
    if (!job) return;
    if (message.t === "response") {
      clearTimeout(job.timer);
      const body: BodyInit | null = message.body instanceof Uint8Array
        ? message.body as Uint8Array<ArrayBuffer>
        : message.body === null
        ? message.body
        : receiveStream(message.body, job.gone.signal);
      // As in the thread: headers appended, not converted from an init.
      const response = new Response(body, {
        status: message.status,
        statusText: message.statusText,
      });
      const headers = response.headers;
      headers.delete("content-type");
      for (const [name, value] of message.headers) headers.append(name, value);
      this.#answer(job, response);
      if (!(message.body instanceof MessagePort)) this.#finish(thread);
    } else if (message.t === "app-error") {
      clearTimeout(job.timer);
      const error = new Error(message.message);
      error.name = message.name;
      error.stack = message.stack;
      this.#answer(job, this.#options.onAppError(error, job.request));
      this.#finish(thread);
    } else if (message.t === "done") {
      this.#finish(thread);
    }
  }

  #answer(job: Job, response: Response): void {
    if (job.answered) return;
    job.answered = true;
    job.resolve(response);
  }

  /** The thread's current request is over: time the next one, hand it more work. */
  #finish(thread: Thread): void {
    const job = thread.jobs.shift();
    if (job) clearTimeout(job.timer);
    this.#startClock(thread);
    this.#fill(thread);
  }

  /** Gives the longest-waiting request to a free thread, or marks it idle. */
  #fill(thread: Thread): void {
    if (thread.dead) return;
    if (thread.jobs.length > 0) return;
    const next = this.#waiting.shift();
    if (next) this.#dispatch(thread, next.request, next.info).then(next.resolve);
    else this.#idle.push(thread);
  }

  /** Ends a thread that crashed or hung, answers its request, and starts a replacement. */
  #kill(thread: Thread, reason: string, status: 500 | 504): void {
    if (thread.dead) return;
    thread.dead = true;
    thread.worker.terminate();
    this.#threads.delete(thread);
    const idle = this.#idle.indexOf(thread);
    if (idle >= 0) this.#idle.splice(idle, 1);
    const [job] = thread.jobs.splice(0);
    const log = this.#options.log;
    if (status === 504) log.critical(`THREAD TIMEOUT (thread ${thread.id} ${reason})`);
    else log.error(`Thread ${thread.id} ${reason}`);
    if (job) {
      clearTimeout(job.timer);
      job.gone.abort(new Error(`thread ${thread.id} ${reason}`));
      this.#answer(job, status === 504 ? plain(504, TIMEOUT_BODY) : plain(500, CRASH_BODY));
    }
    if (this.#closed) return;
    log.info(`Replacing thread ${thread.id}`);
    this.#spawn().catch((error) => {
      // The app loaded before but not now (changed on disk?). With no thread left, queued
      // requests would wait forever while the heartbeat goes on: answer them and give up, so
      // the master starts a fresh worker.
      log.error((error as Error).message);
      if (this.#threads.size > 0 || this.#closed) return;
      for (const waiting of this.#waiting.splice(0)) {
        waiting.resolve(plain(503, "Service Unavailable: no thread could load the app\n"));
      }
      this.#options.onLost();
    });
  }
}
