// A text message's string from the bytes `ws` received (and already checked as UTF-8).

import type { Buffer } from "node:buffer";

// ignoreBOM keeps a leading U+FEFF in the text, as Buffer's decoding does.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

// Below this Buffer's own decoding is as fast or faster; above it TextDecoder is faster
// under Deno (docs/architecture.md, "WebSockets measured").
const SHORT = 128;

/** The string of a text message's bytes. */
export function messageText(data: Buffer): string {
  return data.length < SHORT ? data.toString("utf8") : decoder.decode(data);
}
