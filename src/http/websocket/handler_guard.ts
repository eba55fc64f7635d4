// A throw (or a rejected promise) in an app's WebSocket handler is that socket's failure, not the
// worker's: it goes to the hub's `appError` and the socket is closed with 1011, as an HTTP app
// error gets a 500 while the worker keeps serving. Deno.serve and Bun.serve would end the whole
// process on it (an uncaught error), and every other user's socket with it.

/** RFC 6455 7.4.1: "an unexpected condition prevented it from fulfilling the request". */
export const APP_ERROR_CODE = 1011;
const APP_ERROR_REASON = "internal error";
/** readyState OPEN, the same number in ws, Bun and WHATWG sockets: only an open one is closed. */
const OPEN = 1;

/** What closeForAppError needs of a socket: ws's, Bun's, or a WHATWG WebSocket. */
interface Closable {
  readonly readyState: number;
  close(code?: number, reason?: string): void;
}

/** Closes `socket` with 1011 after its app handler failed; one that is not open is left as it is. */
export function closeForAppError(socket: Closable): void {
  if (socket.readyState === OPEN) socket.close(APP_ERROR_CODE, APP_ERROR_REASON);
}

/** Told of an app handler's failure: the error, and which handler (`onmessage`, `open` …). */
export type HandlerFailed = (error: unknown, handler: string) => void;

/** Calls `fn`; a throw, or a promise it returns that rejects, goes to `failed`. */
export function guardedCall(fn: () => unknown, failed: (error: unknown) => void): void {
  try {
    const r = fn() as PromiseLike<unknown> | undefined;
    if (r !== null && typeof r === "object" && typeof r.then === "function") {
      r.then(undefined, failed);
    }
  } catch (error) {
    failed(error);
  }
}

/** `listener` (a function or an object with handleEvent) guarded as guardedCall does. */
export function guardedListener(
  listener: EventListenerOrEventListenerObject,
  target: EventTarget,
  failed: (error: unknown) => void,
): EventListener {
  return (event) =>
    guardedCall(
      () =>
        typeof listener === "function" ? listener.call(target, event) : listener.handleEvent(event),
      failed,
    );
}

const EVENTS = ["open", "message", "close", "error"] as const;

/**
 * Guards the handlers an app sets on `socket` (a WHATWG WebSocket, such as the one Deno.serve's
 * upgrade gives): `on*` and `addEventListener`. Call before the app sees the socket; the own
 * properties shadow WebSocket.prototype's. A listener the app adds through
 * `EventTarget.prototype.addEventListener.call(socket, …)` passes by them, unguarded.
 */
export function guardSocketHandlers(socket: WebSocket, failed: HandlerFailed): void {
  const target = socket as unknown as Record<string, unknown>;
  for (const type of EVENTS) {
    const name = `on${type}`;
    const native = findSetter(socket, name);
    if (native === undefined) continue;
    let app: unknown = null;
    Object.defineProperty(socket, name, {
      configurable: true,
      enumerable: true,
      get: () => app,
      set: (fn: unknown) => {
        app = fn;
        native.call(
          socket,
          typeof fn === "function"
            ? guardedListener(fn as EventListener, socket, (e) => failed(e, name))
            : fn,
        );
      },
    });
  }
  const add = (socket as EventTarget).addEventListener.bind(socket);
  const remove = (socket as EventTarget).removeEventListener.bind(socket);
  const wrappers = new WrapperMap();
  target.addEventListener = (
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ) => {
    if (listener === null) return add(type, listener, options);
    const wrapped = wrappers.get(
      listener,
      type,
      options,
      () => guardedListener(listener, socket, (e) => failed(e, `a listener for "${type}"`)),
    );
    add(type, wrapped, options);
  };
  target.removeEventListener = (
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ) => {
    const wrapped = listener === null ? undefined : wrappers.find(listener, type, options);
    remove(type, wrapped ?? listener, options);
  };
}

function findSetter(object: object, name: string): ((v: unknown) => void) | undefined {
  for (let o = Object.getPrototypeOf(object); o !== null; o = Object.getPrototypeOf(o)) {
    const d = Object.getOwnPropertyDescriptor(o, name);
    if (d !== undefined) return d.set;
  }
  return undefined;
}

const capture = (options?: boolean | EventListenerOptions) =>
  typeof options === "boolean" ? options : Boolean(options?.capture);

/**
 * The guarded wrapper of each listener, by type and capture (what EventTarget tells listeners
 * apart by): adding one twice adds it once, and removing it removes its wrapper.
 */
export class WrapperMap {
  readonly #byListener = new WeakMap<object, Map<string, EventListener>>();

  get(
    listener: EventListenerOrEventListenerObject,
    type: string,
    options: boolean | EventListenerOptions | undefined,
    make: () => EventListener,
  ): EventListener {
    let map = this.#byListener.get(listener);
    if (map === undefined) this.#byListener.set(listener, map = new Map());
    const key = `${capture(options)} ${type}`;
    let wrapped = map.get(key);
    if (wrapped === undefined) map.set(key, wrapped = make());
    return wrapped;
  }

  find(
    listener: EventListenerOrEventListenerObject,
    type: string,
    options: boolean | EventListenerOptions | undefined,
  ): EventListener | undefined {
    return this.#byListener.get(listener)?.get(`${capture(options)} ${type}`);
  }
}
