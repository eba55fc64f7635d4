// Bun's fetch() decodes a compressed body (unless asked `decompress: false`) but keeps the
// upstream's Content-Encoding and Content-Length in the headers, and marks nothing on the
// Response. So appserve's wrapper of fetch (globalThis.fetch and Bun.fetch) notes each Response
// fetched without `decompress: false` that has an encoding Bun decodes: that body was decoded. A
// Response fetched any other way (a clone, a fetch made before the wrapper) is not noted and
// keeps its headers, as Bun.serve sends them.

const DECODED = /^\s*(?:x-)?(?:gzip|deflate|br|zstd)\s*$/i;
const decoded = new WeakSet<Response>();
let installed = false;

function noting(native: typeof fetch): typeof fetch {
  // A Proxy keeps the native function's own properties (preconnect) and its name.
  return new Proxy(native, {
    apply(target, self, args: Parameters<typeof fetch>) {
      const made = Reflect.apply(target, self, args) as Promise<Response>;
      const init = args[1] as { decompress?: unknown } | undefined;
      if (init?.decompress === false) return made;
      return made.then((response) => {
        const encoding = response.headers.get("content-encoding");
        if (encoding !== null && DECODED.test(encoding)) decoded.add(response);
        return response;
      });
    },
  });
}

/** Wraps the global fetch and Bun.fetch to note the Responses whose bodies they decoded. */
export function noteRawFetches(): void {
  if (installed) return;
  installed = true;
  const global = globalThis.fetch;
  const wrapped = noting(global);
  globalThis.fetch = wrapped;
  const bun = (globalThis as { Bun?: { fetch: typeof fetch } }).Bun;
  if (bun !== undefined) {
    try {
      bun.fetch = bun.fetch === global ? wrapped : noting(bun.fetch);
    } catch {
      // Read-only in some Bun: its Responses keep their headers, as Bun.serve sends them.
    }
  }
}

/** Whether Bun's fetch() decoded `response`'s body (Runtime.decodedBody). */
export function decodedBody(response: Response): boolean {
  return decoded.has(response);
}
