// Bun.serve answers a HEAD whose Response has a stream of unknown length with
// `transfer-encoding: chunked`, dropping the Content-Length the app declared for it (measured,
// Bun 1.4.4), where Deno.serve and the shared socket keep it: the HEAD then misstates the GET,
// which Bun sends with a length. A bodiless Response with the same head keeps it (Bun.serve sends
// a declared length as it is for a null body).

import type { BodyKnown } from "./_bun_idle.ts";
import { decodedBody } from "./_bun_decoded_body.ts";

const DIGITS = /^\d+$/;

/** `response` as Bun.serve must get it to answer a HEAD with the length the app declared. */
export function headAnswer(response: Response, known: BodyKnown): Response {
  if (known.remembered(response) !== null || known.knownLength(response) >= 0) return response;
  const declared = response.headers.get("content-length");
  // A decoded fetch() body's length is the upstream's encoded one: not the GET's.
  if (declared === null || !DIGITS.test(declared.trim()) || decodedBody(response)) {
    return response;
  }
  const body = response.body;
  if (body === null) return response;
  // Not sent: the app's stream is told so, as Bun.serve cancels it.
  body.cancel().catch(() => {});
  return new Response(null, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}
