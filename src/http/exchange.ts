// One request at a time of a connection: hands it to the app, turns throws and non-Responses into
// onAppError's reply, has the writer put the answer on the wire and acts on the writer's outcome.

import { abortRequestSignal } from "./app_request.ts";
import {
  F_HEAD,
  F_HTTP10,
  F_KEEP_ALIVE,
  type Outcome,
  type ResponseWriter,
} from "./response_writer.ts";
import {
  appErrorReply,
  CUT_OFF_STATUS,
  cutOffReplyBodyBytes,
  notAResponse,
  statusReply,
} from "./status_reply.ts";
import type { RequestHead } from "./parser.ts";
import type { FetchHandler, HttpOptions, ServeInfo } from "./types.ts";
import type { PendingUpgrade, SessionEnd } from "./websocket/hub.ts";
import { handshakeRefusal } from "./websocket/handshake_refusal.ts";
import { rangedResponse } from "./byte_range.ts";

/** What an exchange asks of its connection. */
export interface ExchangeHost {
  /** The connection's tag from options.watch, -1 without one. */
  readonly tag: number;
  /** The peer is gone. */
  readonly closed: boolean;
  /** The peer sent its FIN: it half-closed, or is gone (the two look the same). */
  readonly peerEnded: boolean;
  /**
   * The server itself cut the connection off (HttpServer.closeNow: the graceful timeout ran out).
   * Its request's access line is written then, not when the writer stops: by whoever cut it off
   * (logCutOff) for the 504 it got, by cutUnderWay() for a response under way.
   */
  readonly cutOff: boolean;
  /** Whether the connection can take another request after this response, decided as it starts. */
  mayKeepAlive(): boolean;
  /** Ends the connection at once (a reply that cannot be completed). */
  destroy(): void;
  /** The exchange is over: the response went out whole and allows another request (`keep`), or not. */
  exchangeDone(keep: boolean): void;
  /** The app upgraded the request to a WebSocket: the connection hands its socket over. */
  upgrade(
    pending: PendingUpgrade,
    head: RequestHead,
    info: ServeInfo,
    ended: (end: SessionEnd) => void,
  ): void;
}

// Status 101 for the access log's line of a WebSocket session (any Response would not do: Bun's
// shape returns none).
function switched(): Response {
  return new Response(null, { status: 101 });
}

function noop(): void {}

// The access line's response for a cut-off 504 (the bytes are Connection.cut's).
function cutOffResponse(): Response {
  return new Response(null, { status: CUT_OFF_STATUS });
}

// As Bun.serve's (Runtime.requestSignal): where no runtime said otherwise.
const SIGNAL_DEFAULT = { message: "The connection was closed.", afterResponse: false };

/** onAppError's reply, or the plain 500 if the hook itself fails or returns no Response. */
function appErrorResponse(options: HttpOptions, error: unknown, request: Request): Response {
  try {
    const r: unknown = options.onAppError(error, request);
    if (r instanceof Response) return r;
  } catch { /* fall through to the built-in reply */ }
  return appErrorReply();
}

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
  /** The app's response could not be sent: this is the error reply instead. */
  private fallback = false;
  /** The client broke the request body while the app ran: answer this status instead (0: no). */
  private refusal = 0;
  private refusalReason = "";
  private refused = false;
  /** The request was answered by the worker process (a gthread thread past its timeout). */
  private answeredElsewhere = false;
  private info: ServeInfo | null = null;
  /** `info.completed` of the request under way, made when first asked for. */
  private completion: Promise<void> | null = null;
  private complete: (() => void) | null = null;
  private readonly host: ExchangeHost;
  private readonly writer: ResponseWriter;
  private readonly handler: FetchHandler;
  private readonly options: HttpOptions;
  /** The message of the AbortError `request.signal` aborts with. */
  private readonly abortMessage: string;
  /** Whether `request.signal` aborts after a response that went out whole too (Deno.serve's way). */
  private readonly abortAfterResponse: boolean;
  private readonly onResolved: (r: unknown) => void;
  private readonly onRejected: (err: unknown) => void;
  private readonly onWritten: (outcome: Outcome) => void;

  constructor(
    host: ExchangeHost,
    writer: ResponseWriter,
    handler: FetchHandler,
    options: HttpOptions,
  ) {
    this.host = host;
    this.writer = writer;
    this.handler = handler;
    this.options = options;
    const signal = options.requestSignal ?? SIGNAL_DEFAULT;
    this.abortMessage = signal.message;
    this.abortAfterResponse = signal.afterResponse;
    // Made here, not as field initializers: the worker bundle's --keep-names names each arrow
    // field with Object.defineProperty, per connection (docs/architecture.md).
    this.onResolved = (r) => this.respond(r);
    this.onRejected = (err) => this.respondError(err);
    this.onWritten = (outcome) => this.written(outcome);
  }

  /**
   * Hands `request` to the app; `flags` are the writer's F_* flags, `head` what was parsed,
   * `info` the client as the app sees it (the connection's peer, or whom a trusted proxy named).
   */
  start(request: Request, flags: number, head: RequestHead, info: ServeInfo): void {
    this.begin(request, flags, head, info);
    // Pipelined behind a FIN: still answered, but its client is taken for gone, as the native
    // servers take it.
    if (this.host.peerEnded) abortRequestSignal(request, this.abortMessage);
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

  /**
   * Answers `request` with `status` without the app (a body refused on its declared length): as
   * `start` then `refuse`, the answer written and logged as any other.
   */
  startRefused(
    request: Request,
    flags: number,
    head: RequestHead,
    info: ServeInfo,
    status: number,
    reason: string,
  ): void {
    this.begin(request, flags, head, info);
    this.refuse(status, reason);
    this.respond(undefined);
  }

  private begin(request: Request, flags: number, head: RequestHead, info: ServeInfo): void {
    this.info = info;
    this.head = head;
    this.request = request;
    this.flags = flags;
    this.fallback = false;
    this.refusal = 0;
    this.refused = false;
    this.answeredElsewhere = false;
    if (this.options.onRequestDone !== undefined) this.started = performance.now();
    this.options.watch?.started(this.host.tag, (flags & F_HTTP10) !== 0);
  }

  /**
   * Settles when the request under way is done: its response written (whole or not) or its
   * client gone; at once when none is. Deno's `info.completed`.
   */
  completed(): Promise<void> {
    if (this.request === null) return Promise.resolve();
    return this.completion ??= new Promise<void>((resolve) => (this.complete = resolve));
  }

  // The request is done: whoever waits on `completed` hears it.
  private settle(): void {
    const complete = this.complete;
    this.completion = this.complete = null;
    if (complete !== null) complete();
  }

  /** The client of the request under way, or of the last one (whom its body's faults concern). */
  get client(): ServeInfo | null {
    return this.info;
  }

  /**
   * The client broke the request body while the app has the request (413, 408 or 400): that is
   * the answer, whatever the app makes of it. The first refusal of a request counts.
   */
  refuse(status: number, reason: string): void {
    if (this.request === null || this.refusal !== 0) return;
    this.refusal = status;
    this.refusalReason = reason;
  }

  /**
   * The client went away (its FIN or a close), or the server cut the connection, while the
   * request is under way (with the app, or its response being written): its signal aborts.
   */
  abandoned(): void {
    const request = this.request;
    if (request !== null) abortRequestSignal(request, this.abortMessage);
  }

  /** A request is under way and its response was handed to the writer (and not done yet). */
  get underWay(): boolean {
    return this.request !== null && this.response !== null;
  }

  /**
   * The server cuts the connection of the response under way (Connection.cut): its access line
   * and count now, as the client got it (the status of the head, the body bytes written so far),
   * while the process can still write it; the writer's later outcome logs nothing (host.cutOff).
   * Returns whether it did.
   */
  cutUnderWay(): boolean {
    if (!this.underWay || this.answeredElsewhere) return false;
    if (this.writer.headPending) {
      // Nothing went out yet (a stream's first chunk is awaited): the cut answers its 504 as for
      // a request still with the app, and the writer sends nothing more.
      this.writer.abort(this.abortMessage);
      this.response = cutOffResponse();
      this.writer.bodyBytes = cutOffReplyBodyBytes();
    }
    this.logLine();
    return true;
  }

  /** A response under way whose head has not gone out: Connection.cut writes the 504 for it. */
  get headPending(): boolean {
    return this.underWay && this.writer.headPending;
  }

  /** A request is under way and no response of it was handed to the writer yet. */
  get unanswered(): boolean {
    return this.request !== null && this.response === null;
  }

  /** The request under way is a HEAD: an answer to it has no body. */
  get headOnly(): boolean {
    return (this.flags & F_HEAD) !== 0;
  }

  /** The message of the AbortError the response stream under way is cancelled with when the client is gone. */
  get abandonMessage(): string {
    return this.abortMessage;
  }

  private respondError(err: unknown): void {
    // An app that failed on a body the client broke is answered for the client's error, unlogged.
    if (this.refusal !== 0 && !this.refused) return this.respond(undefined);
    this.respond(appErrorResponse(this.options, err, this.request!));
  }

  private respond(r: unknown): void {
    const host = this.host;
    if (this.refusal !== 0 && !this.refused) {
      // Whatever the app made of a broken body (usually an error) is not the answer.
      if (r instanceof Response && r.body !== null && !r.body.locked) r.body.cancel().catch(noop);
      this.refused = true;
      r = statusReply(this.refusal, this.refusalReason);
    }
    // An upgrade request (rare) may have been upgraded: Bun's shape returns anything after it.
    if (this.head!.upgrade && this.options.websocket !== undefined && !this.refused) {
      const pending = this.options.websocket.take(this.request!, r);
      if (pending !== null && !host.closed && !host.cutOff) {
        const refusal = handshakeRefusal(this.request!);
        if (refusal === null) return this.upgrade(pending);
        r = refusal;
      }
    }
    if (!(r instanceof Response)) return this.respondError(notAResponse(r));
    // A file body answers a Range request as the runtime's own server would.
    const fileBody = this.options.fileBody;
    const response = fileBody === undefined
      ? r
      : rangedResponse(r, this.head!, fileBody, this.options.impliedType);
    this.response = response;
    const watch = this.options.watch;
    // Not answered here: the client is gone, the server cut the connection off (its 504 is on the
    // way: Connection.cut), or the worker process answered already (a gthread thread past its
    // timeout), in which case the connection is ended too.
    const answeredElsewhere = !host.closed && !host.cutOff && watch !== undefined &&
      !watch.answering(host.tag);
    if (host.closed || host.cutOff || answeredElsewhere) {
      const body = response.body;
      if (body !== null && !body.locked) body.cancel().catch(noop);
      this.writer.forget();
      if (answeredElsewhere) {
        this.answeredElsewhere = true;
        host.destroy();
      }
      return this.written("close");
    }
    let flags = this.flags;
    if ((flags & F_KEEP_ALIVE) !== 0 && (this.fallback || !host.mayKeepAlive())) {
      flags &= ~F_KEEP_ALIVE;
    }
    let outcome: Outcome | null;
    try {
      outcome = this.writer.write(response, flags, this.onWritten);
    } catch {
      // The writer handles its own failures; this is a last line of defence.
      host.destroy();
      outcome = "close";
    }
    if (outcome !== null) this.written(outcome);
  }

  private upgrade(pending: PendingUpgrade): void {
    const host = this.host;
    const watch = this.options.watch;
    // A gthread thread past its timeout: the worker process answered already.
    if (watch !== undefined && !watch.answering(host.tag)) {
      this.answeredElsewhere = true;
      host.destroy();
      return this.written("close");
    }
    const request = this.request!;
    const head = this.head!;
    const info = this.info!;
    const started = this.started;
    const protocol = this.flags & F_HTTP10 ? "HTTP/1.0" : "HTTP/1.1";
    const hook = this.options.onRequestDone;
    this.request = this.response = null;
    this.head = null;
    // A session is not a request in flight: a gthread watchdog must not take it for a hung one.
    watch?.finished(host.tag);
    const message = this.abortMessage;
    host.upgrade(pending, head, info, (end) => {
      // Bun.serve aborts an upgraded request's signal when its session ends.
      abortRequestSignal(request, message);
      if (hook === undefined) return;
      try {
        hook(request, switched(), performance.now() - started, {
          remote: info.remoteAddr,
          protocol,
          target: head.target,
          bodyBytes: end.bytesOut,
          bytesIn: end.bytesIn,
          rawHeaders: head.headers,
        });
      } catch { /* a logging hook must not take the connection down */ }
    });
    // Deno.serve's way: once the 101 went out.
    if (this.abortAfterResponse) abortRequestSignal(request, message);
    this.settle();
  }

  /** The writer's outcome, at once or once the body was read. */
  private written(outcome: Outcome): void {
    const host = this.host;
    if (outcome === "unsent") {
      if (!host.closed && !this.fallback) {
        // The body broke before anything was sent: the app's error reply can still go out.
        this.fallback = true;
        return this.respond(appErrorResponse(this.options, this.writer.error, this.request!));
      }
      // The client is gone too: logged as the 500 it would have got (Response.error() has none).
      if (!this.fallback) this.response = appErrorReply();
      host.destroy();
    } else if (outcome === "cut" && this.options.onBodyError !== undefined && !host.cutOff) {
      // The app's response body failed after its head went out: the reply was cut; say why. Not
      // when the server cut it first (a quick stop, the graceful timeout: their WARNING names it):
      // a stream that follows request.signal (a proxy's fetch body) fails with that abort.
      try {
        this.options.onBodyError(this.writer.error, this.request!);
      } catch { /* a logging hook must not take the connection down */ }
    }
    // Every request gets its access line here, a client that went away included (gunicorn logs
    // each request it handled): the status of the head sent and the body bytes written before
    // the disconnect. One whose client left before its head went out (the app was still at work)
    // is logged with the app's status and 0 bytes (nginx would say 499); a FIN is not that: it
    // may be a half-close, so the answer is written and its bytes logged.
    // Not here: a request the worker process answered (a gthread thread past its timeout) or one
    // cut off at the graceful timeout; who answered or cut it off wrote its line.
    if (!this.answeredElsewhere && !host.cutOff) this.logLine();
    // A response that did not go out whole (the client is gone, the connection was cut or
    // destroyed) ends the request as a client gone does; one that did, only Deno.serve's way.
    const whole = (outcome === "keep" || outcome === "close") && !host.closed &&
      !this.answeredElsewhere;
    if (!whole || this.abortAfterResponse) abortRequestSignal(this.request!, this.abortMessage);
    this.request = this.response = null;
    this.head = null;
    this.settle();
    // A connection that closed meanwhile told the watch already, and its tag may be another's now.
    if (!host.closed) this.options.watch?.finished(host.tag);
    host.exchangeDone(outcome === "keep");
  }

  // The access line (and count) of the request under way, as its response went out so far.
  private logLine(): void {
    const hook = this.options.onRequestDone;
    if (hook === undefined) return;
    try {
      hook(this.request!, this.response!, performance.now() - this.started, {
        remote: this.info!.remoteAddr,
        protocol: this.flags & F_HTTP10 ? "HTTP/1.0" : "HTTP/1.1",
        target: this.head!.target,
        bodyBytes: this.writer.bodyBytes,
        rawHeaders: this.head!.headers,
        sentLength: this.writer.sentLength,
        sentType: this.writer.sentType,
        sentChunked: this.writer.sentChunked,
      });
    } catch { /* a logging hook must not take the connection down */ }
  }
}
