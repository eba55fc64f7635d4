// Deno's fetch() decodes a compressed body but keeps the upstream's Content-Encoding and
// Content-Length in the headers (as the fetch spec asks); it marks the Response whose body it
// decoded, and Deno.serve reads that mark to send the body chunked without the encoding. The mark
// is internal: it is found once by its slot's description, and any other shape means "not
// decoded", which is what the headers say.

type Slots = Record<symbol, unknown>;

/** A function that tells whether fetch() decoded a Response's body. */
export function decodedBodyReader(): (response: Response) => boolean {
  const inner = Object.getOwnPropertySymbols(new Response(null)).find((s) =>
    s.description === "response"
  );
  if (inner === undefined) return () => false;
  return (response) =>
    ((response as unknown as Slots)[inner] as { bodyDecoded?: unknown } | undefined)
      ?.bodyDecoded === true;
}
