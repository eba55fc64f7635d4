// Bun's fetch() decodes a compressed body (unless asked `decompress: false`) but keeps the
// upstream's Content-Encoding and Content-Length in the headers, and marks nothing on the
// Response. A fetched Response (it has a URL) with an encoding Bun decodes was decoded, unless
// the request said `decompress: false`: the global fetch notes those Responses.

const DECODED = /^\s*(?:x-)?(?:gzip|deflate|br|zstd)\s*$/i;
const raw = new WeakSet<Response>();
let installed = false;

/** Wraps the global fetch to note the Responses fetched with `decompress: false`. */
export function noteRawFetches(): void {
  if (installed) return;
  installed = true;
  const native = globalThis.fetch;
  // A Proxy keeps the native function's own properties (preconnect) and its name.
  globalThis.fetch = new Proxy(native, {
    apply(target, self, args: Parameters<typeof fetch>) {
      const made = Reflect.apply(target, self, args) as Promise<Response>;
      const init = args[1] as { decompress?: unknown } | undefined;
      if (init?.decompress !== false) return made;
      return made.then((response) => {
        raw.add(response);
        return response;
      });
    },
  });
}

/** Whether Bun's fetch() decoded `response`'s body (Runtime.decodedBody). */
export function decodedBody(response: Response): boolean {
  if (response.url === "" || raw.has(response)) return false;
  const encoding = response.headers.get("content-encoding");
  return encoding !== null && DECODED.test(encoding);
}
