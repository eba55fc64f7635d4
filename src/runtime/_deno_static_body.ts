// Deno keeps a Response made from a string or bytes (text, JSON, a Uint8Array, form data) as that
// value until something reads its body, and Deno.serve writes it without a stream. Reading it
// through `response.body` instead costs a stream, a reader and two reads: about 2 µs of a
// hello world's 20 (docs/architecture.md, "Where the microseconds go"). Its slots are internal:
// they are found once by their descriptions, and any shape other than the expected one means
// "no static body", so a Deno that changes them costs speed, never a wrong reply.

type Slots = Record<symbol, unknown>;

/** A function that gives a Response's static body, or null when it has none (or is read). */
export function staticBodyReader(): (response: Response) => string | Uint8Array | null {
  const symbols = Object.getOwnPropertySymbols(new Response("x"));
  const inner = symbols.find((s) => s.description === "response");
  const lazy = symbols.find((s) => s.description === "lazy static body");
  if (inner === undefined) return () => null;
  return (response) => {
    if (response.bodyUsed) return null;
    // `new Response(string)` and `Response.json()` without an init: the text itself, until the
    // body is read (then it is null).
    if (lazy !== undefined) {
      const text = (response as unknown as Slots)[lazy];
      if (typeof text === "string") return text;
    }
    const body = ((response as unknown as Slots)[inner] as { body?: unknown } | undefined)?.body;
    if (body === null || typeof body !== "object") return null;
    const value = (body as { streamOrStatic?: unknown }).streamOrStatic;
    if (value === null || typeof value !== "object" || value instanceof ReadableStream) return null;
    const { body: bytes, consumed } = value as { body?: unknown; consumed?: unknown };
    if (consumed !== false) return null;
    return typeof bytes === "string" || bytes instanceof Uint8Array ? bytes : null;
  };
}
