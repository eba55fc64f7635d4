// Runs one request through the app and the response writer: awaits the handler, turns throws and
// non-Responses into onAppError's reply, and reports how the connection may continue.

import { appErrorResponse, notAResponse } from "./fetch_glue.ts";
import { statusReply } from "./status_reply.ts";
import {
  CLOSE,
  F_HTTP10,
  F_KEEP_ALIVE,
  PENDING,
  UNSENT,
  writeResponse,
} from "./response_writer.ts";
import type { ResponseTarget } from "./response_writer.ts";
import type { RequestHead } from "./parser.ts";
import type { FetchHandler, HttpOptions, ServeInfo } from "./types.ts";

/** The connection an exchange runs on. */
export interface ExchangeHost extends ResponseTarget {
  /** The connection's tag from options.watch, -1 without one. */
  readonly tag: number;
  /** The client broke the request body while the app ran: answer this status instead (0: no). */
  readonly refusal: number;
  readonly refusalReason: string;
  /** Whether the connection can take another request after this response, decided as it starts. */
  mayKeepAlive(): boolean;
  /** The response is fully written (KEEP/CLOSE), or could not be (connection gone). */
  exchangeDone(result: number): void;
}

function noop(): void {}

/**
 * One per connection, reused for each of its requests in turn: the request in progress lives in
 * fields and the continuations are bound once, so a request allocates no closures of ours.
 */
export class Exchange {
  private request: Request | null = null;
  private response: Response | null = null;
  private flags = 0;
  private head: RequestHead | null = null;
  private started = 0;
  private fallback = false;
  private refused = false;
  private info: ServeInfo | null = null;
  private readonly host: ExchangeHost;
  private readonly handler: FetchHandler;
  private readonly options: HttpOptions;
  private readonly onResolved = (r: unknown): void => this.respond(r);
  private readonly onRejected = (err: unknown): void => this.respondError(err);

  constructor(host: ExchangeHost, handler: FetchHandler, options: HttpOptions) {
    this.host = host;
    this.handler = handler;
    this.options = options;
  }

  /**
   * Hands `request` to the app; `flags` are the writer's F_* flags, `head` what was parsed,
   * `info` the client as the app sees it (the connection's peer, or whom a trusted proxy named).
   */
  start(request: Request, flags: number, head: RequestHead, info: ServeInfo): void {
    this.info = info;
    this.head = head;
    this.request = request;
    this.flags = flags;
    this.fallback = false;
    this.refused = false;
    if (this.options.onRequestDone !== undefined) this.started = performance.now();
    this.options.watch?.started(this.host.tag);
    let r: unknown;
    try {
      r = this.handler(request, info);
    } catch (err) {
      return this.respondError(err);
    }
    // A plain Response skips a promise round trip; anything thenable is awaited.
    if (r instanceof Response) return this.respond(r);
    if (r !== null && typeof (r as PromiseLike<unknown>)?.then === "function") {
      Promise.resolve(r).then(this.onResolved, this.onRejected);
      return;
    }
    this.respond(r);
  }

  private respondError(err: unknown): void {
    // An app that failed on a body the client broke is answered for the client's error, unlogged.
    if (this.host.refusal !== 0 && !this.refused) return this.respond(undefined);
    this.respond(appErrorResponse(this.options, err, this.request!));
  }

  /** The app's response body failed after its head went out: the reply was cut; say why. */
  bodyFailed(error: unknown): void {
    const request = this.request;
    if (request === null || this.options.onBodyError === undefined) return;
    try {
      this.options.onBodyError(error, request);
    } catch { /* a logging hook must not take the connection down */ }
  }

  private respond(r: unknown): void {
    const host = this.host;
    if (host.refusal !== 0 && !this.refused) {
      // Whatever the app made of a broken body (usually an error) is not the answer.
      if (r instanceof Response && r.body !== null && !r.body.locked) r.body.cancel().catch(noop);
      this.refused = true;
      r = statusReply(host.refusal, host.refusalReason);
    }
    if (!(r instanceof Response)) return this.respondError(notAResponse(r));
    this.response = r;
    const watch = this.options.watch;
    // Not answered here: the client is gone, or the worker process answered already (a gthread
    // thread past its timeout), in which case the connection is ended too.
    const answeredElsewhere = !host.closed && watch !== undefined && !watch.answering(host.tag);
    if (host.closed || answeredElsewhere) {
      if (r.body !== null && !r.body.locked) r.body.cancel().catch(noop);
      if (answeredElsewhere) host.socket.destroy();
      return this.written(CLOSE);
    }
    let flags = this.flags;
    if ((flags & F_KEEP_ALIVE) !== 0 && (this.fallback || !host.mayKeepAlive())) {
      flags &= ~F_KEEP_ALIVE;
    }
    let result: number;
    try {
      result = writeResponse(host, r, flags);
    } catch {
      // writeResponse handles its own failures; this is a last line of defence.
      host.socket.destroy();
      result = CLOSE;
    }
    if (result !== PENDING) this.written(result);
  }

  /** The outcome of the write, now or (through the host's writeDone) once the body was read. */
  written(result: number): void {
    const host = this.host;
    if (result === UNSENT && !host.closed) {
      if (!this.fallback) {
        // The body broke before anything was sent: the app's error reply can still go out.
        this.fallback = true;
        const failure = host.failure;
        host.failure = undefined;
        return this.respond(appErrorResponse(this.options, failure, this.request!));
      }
      host.socket.destroy();
    }
    const hook = this.options.onRequestDone;
    if (hook !== undefined && !host.closed && result !== UNSENT) {
      try {
        hook(this.request!, this.response!, performance.now() - this.started, {
          remote: this.info!.remoteAddr,
          protocol: this.flags & F_HTTP10 ? "HTTP/1.0" : "HTTP/1.1",
          target: this.head!.target,
          bodyBytes: host.bodyBytes,
          rawHeaders: this.head!.headers,
        });
      } catch { /* a logging hook must not take the connection down */ }
    }
    this.request = this.response = null;
    this.head = null;
    this.options.watch?.finished(host.tag);
    host.exchangeDone(result === UNSENT ? CLOSE : result);
  }
}
