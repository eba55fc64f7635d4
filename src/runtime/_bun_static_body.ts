// Bun's Response shows nothing of its body without a stream, and reading a one-chunk body through
// one (getReader, two reads, the microtask turns of the second) is 1.5–2 µs of a hello world's
// ~13 on the shared socket (docs/architecture.md, "Where the microseconds go"). So, as Hono's own
// Node adapter does with Node's Response, the global Response becomes a subclass that remembers
// the string it was made from; every Response, fetch()'s and Response.json()'s included, is still
// `instanceof Response`. Anything but a string keeps its stream. What an app could still tell:
// fetch()'s objects do not have the global's prototype (a patch to
// Response.prototype misses them), and `Response.length` is 2; Hono's adapter has the same.

const NativeResponse = globalThis.Response;
const JSON_TYPE = "application/json;charset=utf-8";

let textOf: (response: Response) => string | null = () => null;

class Response extends NativeResponse {
  readonly #text: string | null;

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    super(body, init);
    this.#text = typeof body === "string" ? body : null;
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

  // A clone of a string body is one too (the native clone would hide it in a stream).
  override clone(): InstanceType<typeof NativeResponse> {
    // Called on any Response (Response.prototype.clone.call(fetched)): not only ours.
    const text = #text in this ? this.#text : null;
    if (text === null || this.bodyUsed) return super.clone();
    return new Response(text, this);
  }

  static {
    textOf = (response) => (#text in response ? response.#text : null);
  }
}

let installed = false;

/** Makes the global Response the remembering one (once; before the app is imported). */
export function rememberStringBodies(): void {
  if (installed) return;
  installed = true;
  globalThis.Response = Response;
}

/** The string a Response was made from while nothing has read its body; else null. */
export function stringBody(response: Response): string | null {
  const text = textOf(response);
  return text === null || response.bodyUsed ? null : text;
}
