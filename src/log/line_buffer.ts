// Access-log lines are written as bytes straight into one buffer per batch.
// Building each line as a string and joining the batch (the obvious way) made
// the engines build and then flatten a rope of ~20 pieces per request, which
// cost as much as the rest of the line's logging (measured, both runtimes).

const INITIAL_BYTES = 64 * 1024;
const MAX_KEPT_BYTES = 1024 * 1024;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
const HEX = new TextEncoder().encode("0123456789abcdef");
// Control characters (C0, DEL, C1), the backslash that begins an escape, and the two line
// separators some readers split on.
// deno-lint-ignore no-control-regex
const ESCAPED = /[\x00-\x1f\x5c\x7f-\x9f\u2028\u2029]/g;
// Of a byte string that is not UTF-8: as ESCAPED, and every byte beyond ASCII.
// deno-lint-ignore no-control-regex
const ESCAPED_BYTES = /[\x00-\x1f\x5c\x7f-\xff]/g;
const escapeOne = (c: string) => {
  const code = c.charCodeAt(0);
  return code > 0xff ? `\\u${code.toString(16)}` : `\\x${code.toString(16).padStart(2, "0")}`;
};

const encoder = new TextEncoder();
// Only a byte string's bytes beyond ASCII are decoded, and only when a header has some.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
// A byte string's byte beyond ASCII, when its bytes are not UTF-8.
const HIGH_BYTE = /[\x80-\xff]/g;
const hexByte = (c: string) => `\\x${c.charCodeAt(0).toString(16)}`;

/**
 * A byte string (one char per byte: a request header's value) as text: its bytes decoded as
 * UTF-8 when they are valid UTF-8, else `null`. A char beyond a byte is no byte string: the text
 * as it is.
 */
function utf8Text(bytes: string): string | null {
  const raw = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const code = bytes.charCodeAt(i);
    if (code > 0xff) return bytes;
    raw[i] = code;
  }
  try {
    return strictUtf8.decode(raw);
  } catch {
    return null;
  }
}

/** A growing UTF-8 buffer of whole lines, handed out (and replaced) once per batch. */
export class LineBuffer {
  readonly #home: Uint8Array;
  readonly #given: boolean;
  #bytes: Uint8Array;
  #length = 0;
  /** Lines ended since the last take(). */
  lines = 0;

  /**
   * @param home The memory it writes into (given, e.g. shared; or a new one of this many bytes),
   * and goes back to after lines that did not fit it.
   */
  constructor(home: number | Uint8Array = INITIAL_BYTES) {
    this.#given = typeof home !== "number";
    this.#home = typeof home === "number" ? new Uint8Array(home) : home;
    this.#bytes = this.#home;
  }

  /** Whether the lines since the last take() outgrew the memory it was given (are in a copy). */
  get outgrown(): boolean {
    return this.#given && this.#bytes !== this.#home;
  }

  /** Bytes held since the last take(). */
  get length(): number {
    return this.#length;
  }

  /** Appends `text` as UTF-8. */
  text(text: string): void {
    this.#utf8(text, false);
  }

  /**
   * Appends `text` as UTF-8 with `"` written as `\"` (gunicorn's escaping), and control characters
   * and `\` as `\xHH` (nginx's; U+2028 and U+2029 as `\u2028`): a decoded `%0A` in a path must not
   * start a forged line, nor a `%5C` pass for an escape.
   */
  quoted(text: string): void {
    this.#utf8(text, true);
  }

  /**
   * Appends a byte string (a request header's value, one char per byte) as quoted() does: its
   * bytes decoded when they are valid UTF-8, else each byte beyond ASCII as `\xHH` (nginx's).
   * Written as it came, UTF-8 would show double-encoded.
   */
  quotedBytes(bytes: string): void {
    this.#utf8(bytes, true, true);
  }

  /** Appends a byte string as json() does, decoded as quotedBytes() decodes it. */
  jsonBytes(bytes: string): void {
    this.#json(bytes, true);
  }

  /** Appends `text` as the inside of a JSON string: `"`, `\\` and control characters escaped. */
  json(text: string): void {
    this.#json(text, false);
  }

  #json(text: string, byteString: boolean): void {
    // At most 6 bytes per UTF-16 unit (`\u001f`).
    this.#reserve(text.length * 6);
    const bytes = this.#bytes;
    let at = this.#length;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code >= 0x80) {
        this.#length = at;
        const rest = text.slice(i);
        if (!byteString) return this.#slowJson(rest);
        // As text, `\xHH` is a backslash and three chars: JSON writes `\\xHH`.
        return this.#slowJson(utf8Text(rest) ?? rest.replace(HIGH_BYTE, hexByte));
      }
      if (code === QUOTE || code === BACKSLASH) {
        bytes[at++] = BACKSLASH;
        bytes[at++] = code;
      } else if (code < 0x20) {
        bytes[at++] = BACKSLASH;
        bytes[at++] = 0x75; // u
        bytes[at++] = 0x30;
        bytes[at++] = 0x30;
        bytes[at++] = HEX[code >> 4];
        bytes[at++] = HEX[code & 15];
      } else {
        bytes[at++] = code;
      }
    }
    this.#length = at;
  }

  #utf8(text: string, escape: boolean, byteString = false): void {
    // At most 4 bytes per UTF-16 unit (an escaped control character).
    this.#reserve(text.length * 4);
    const bytes = this.#bytes;
    let at = this.#length;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code >= 0x80) {
        this.#length = at;
        // Past the ASCII prefix: the rest decides whether the whole is valid UTF-8.
        return byteString ? this.#slowBytes(text.slice(i)) : this.#slow(text.slice(i), escape);
      }
      if (escape && (code < 0x20 || code === 0x7f || code === BACKSLASH)) {
        bytes[at++] = BACKSLASH;
        bytes[at++] = 0x78; // x
        bytes[at++] = HEX[code >> 4];
        bytes[at++] = HEX[code & 15];
        continue;
      }
      if (code === QUOTE && escape) bytes[at++] = BACKSLASH;
      bytes[at++] = code;
    }
    this.#length = at;
  }

  /** Appends bytes encoded beforehand (a format's literals, the cached time). */
  bytes(chunk: Uint8Array): void {
    this.#reserve(chunk.length);
    const bytes = this.#bytes;
    let at = this.#length;
    // Pieces are short: a loop beats set()'s call into the runtime.
    for (let i = 0; i < chunk.length; i++) bytes[at++] = chunk[i];
    this.#length = at;
  }

  /** Appends a whole number's decimal digits without making a string of them. */
  int(n: number): void {
    if (!(n >= 0 && n <= 0xffffffff && n === Math.floor(n))) return this.text(String(n));
    this.#reserve(10);
    const bytes = this.#bytes;
    let digits = 1;
    for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    let at = this.#length + digits;
    this.#length = at;
    let rest = n;
    do {
      bytes[--at] = 0x30 + rest % 10;
      rest = Math.floor(rest / 10);
    } while (rest > 0);
  }

  /** Appends a whole number below 10^width as exactly `width` digits, zeros first. */
  padded(n: number, width: number): void {
    this.#reserve(width);
    const bytes = this.#bytes;
    let rest = n;
    for (let at = this.#length + width - 1; at >= this.#length; at--) {
      bytes[at] = 0x30 + rest % 10;
      rest = Math.floor(rest / 10);
    }
    this.#length += width;
  }

  /** Ends the current line. */
  newline(): void {
    this.#reserve(1);
    this.#bytes[this.#length++] = NEWLINE;
    this.lines++;
  }

  /**
   * The lines so far; the buffer starts over empty. The chunk is a view of the buffer, valid
   * until the next append: the access log's sinks write it out before they return, so one
   * buffer serves every batch (a fresh 64 KiB per batch kept the collector busy).
   */
  take(): Uint8Array {
    const chunk = this.#bytes.subarray(0, this.#length);
    // One very long line should not keep its buffer for the life of the process, and given
    // memory is where the lines go.
    if (this.#given || this.#bytes.length > MAX_KEPT_BYTES) this.#bytes = this.#home;
    this.#length = 0;
    this.lines = 0;
    return chunk;
  }

  // Text beyond ASCII (rare in access logs): the encoder, after escaping.
  #slow(text: string, escape: boolean): void {
    const escaped = escape ? text.replace(ESCAPED, escapeOne).replaceAll('"', '\\"') : text;
    this.#reserve(escaped.length * 3);
    const { written } = encoder.encodeInto(escaped, this.#bytes.subarray(this.#length));
    this.#length += written;
  }

  // A byte string beyond ASCII, quoted: decoded, or its high bytes as `\xHH` after the escaping
  // (whose own backslashes must not be escaped again).
  #slowBytes(bytes: string): void {
    const text = utf8Text(bytes);
    if (text !== null) return this.#slow(text, true);
    this.#slow(bytes.replace(ESCAPED_BYTES, escapeOne).replaceAll('"', '\\"'), false);
  }

  // Text beyond ASCII: JSON.stringify escapes it (lone surrogates too), the encoder writes it.
  #slowJson(text: string): void {
    const escaped = JSON.stringify(text).slice(1, -1);
    this.#reserve(escaped.length * 3);
    const { written } = encoder.encodeInto(escaped, this.#bytes.subarray(this.#length));
    this.#length += written;
  }

  #reserve(bytes: number): void {
    const needed = this.#length + bytes;
    if (needed <= this.#bytes.length) return;
    let size = this.#bytes.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
  }
}
