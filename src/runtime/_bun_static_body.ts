// Bun's Response shows nothing of its body without a stream, and reading a one-chunk body through
// one (getReader, two reads, the microtask turns of the second) is 1.5–2 µs of a hello world's
// ~13 on the shared socket (docs/architecture.md, "Where the microseconds go"). So, as Hono's own
// Node adapter does with Node's Response, the global Response becomes a subclass that remembers
// the string it was made from (or a copy of a small byte body); every Response, fetch()'s and
// Response.json()'s included, is still `instanceof Response`. Anything else keeps its stream. What
// an app could still tell: fetch()'s objects do not have the global's prototype (a patch to
// Response.prototype misses them), and `Response.length` is 2; Hono's adapter has the same.

const NativeResponse = globalThis.Response;
const JSON_TYPE = "application/json;charset=utf-8";

let bodyOf: (response: Response) => string | Uint8Array | null = () => null;
let typeOf: (response: Response) => string | null = () => null;
// The native clones of our Responses whose bodies are not remembered, with their bodies' types.
const clonedTypes = new WeakMap<object, string>();

// The types Bun keeps out of the headers of a Response and Bun.serve writes: a string's, bytes'
// and an untyped Blob's (a typed Blob's, Bun.file's, FormData's and URLSearchParams' are in them).
const TEXT_TYPE = "text/plain;charset=utf-8";
const BYTES_TYPE = "application/octet-stream";

function bodyType(body: unknown, bytes: boolean): string | null {
  if (bytes) {
    return (body as ArrayBufferLike | ArrayBufferView).byteLength === 0 ? null : BYTES_TYPE;
  }
  if (body instanceof Blob && body.type === "" && body.size > 0) return TEXT_TYPE;
  return null;
}

// Bytes are copied as they are remembered (the native Response keeps a copy of its own, and the app
// may change its array afterwards): up to a size where the copy costs less than reading a stream.
const BYTES_MAX = 64 * 1024;

function copyOf(body: unknown): Uint8Array | null {
  // Detached (or out of bounds): an empty body, as natively; slice() would throw.
  if ((body as ArrayBufferLike | ArrayBufferView).byteLength === 0) return new Uint8Array(0);
  if (body instanceof ArrayBuffer) {
    return body.byteLength <= BYTES_MAX ? new Uint8Array(body.slice(0)) : null;
  }
  if (!ArrayBuffer.isView(body) || !(body.buffer instanceof ArrayBuffer)) return null;
  if (body.byteLength > BYTES_MAX) return null;
  return new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
}

class Response extends NativeResponse {
  readonly #body: string | Uint8Array | null;
  readonly #type: string | null;

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    super(body, init);
    // A string first: what nearly every Response is made from pays for no other test.
    if (typeof body === "string") {
      this.#body = body;
      this.#type = body === "" ? null : TEXT_TYPE;
      return;
    }
    const bytes = body instanceof ArrayBuffer || body instanceof SharedArrayBuffer ||
      ArrayBuffer.isView(body);
    this.#body = bytes ? copyOf(body) : null;
    this.#type = bodyType(body, bytes);
  }

  // Only for this class itself: an app's `class X extends Response` keeps the ordinary test.
  static override [Symbol.hasInstance](value: unknown): boolean {
    return this === Response
      ? value instanceof NativeResponse
      : Function.prototype[Symbol.hasInstance].call(this, value);
  }

  // Response.json()'s body is a string too, remembered the same way, with the type Bun gives it.
  // What only the native one does (no argument, a status number for `init`, a BigInt, which it
  // refuses even with a toJSON) goes to it; JSON.stringify's own errors are the native ones.
  static override json(...args: [unknown?, ResponseInit?]): InstanceType<typeof NativeResponse> {
    const [data, init] = args;
    if (
      args.length === 0 || typeof data === "bigint" ||
      (init !== undefined && (typeof init !== "object" || init === null))
    ) {
      return NativeResponse.json(...args);
    }
    let text = JSON.stringify(data);
    if (text === undefined) {
      // Undefined, a function, a symbol: the native refusal (no app code runs again). A toJSON
      // that gave nothing: an empty body, as the native one sends.
      const kind = typeof data;
      if (kind === "undefined" || kind === "function" || kind === "symbol") {
        return NativeResponse.json(undefined);
      }
      text = "";
    }
    const response = new Response(text, init);
    const headers = response.headers;
    if (!headers.has("content-type")) headers.set("content-type", JSON_TYPE);
    return response;
  }

  static {
    // As the native one's: enumerable, not configurable.
    Object.defineProperty(this, "json", { enumerable: true, configurable: false });
  }

  // A clone of a remembered body is one too (the native clone would hide it in a stream).
  override clone(): InstanceType<typeof NativeResponse> {
    // Called on any Response (Response.prototype.clone.call(fetched)): not only ours.
    const body = #body in this ? this.#body : null;
    if (body === null || this.bodyUsed) {
      const clone = super.clone();
      // The native clone (of a large byte body, a Blob): it keeps the type all the same.
      const type = #type in this ? this.#type : null;
      if (type !== null) clonedTypes.set(clone, type);
      return clone;
    }
    return new Response(body as BodyInit, this);
  }

  static {
    bodyOf = (response) => (#body in response ? response.#body : null);
    typeOf = (response) => #type in response ? response.#type : clonedTypes.get(response) ?? null;
  }
}

let installed = false;

/** Makes the global Response the remembering one (once; before the app is imported). */
export function rememberBodies(): void {
  if (installed) return;
  installed = true;
  globalThis.Response = Response;
}

/**
 * The string a Response was made from, or a copy of its bytes (up to 64 KiB), while nothing has
 * read its body; else null.
 */
export function rememberedBody(response: Response): string | Uint8Array | null {
  const body = bodyOf(response);
  return body === null || response.bodyUsed ? null : body;
}

/** The type Bun.serve writes for `response`'s body when its headers have none (Runtime.impliedType). */
export function impliedType(response: Response): string | null {
  return typeOf(response);
}
