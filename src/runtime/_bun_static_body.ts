// Bun's Response shows nothing of its body without a stream, and reading a one-chunk body through
// one (getReader, two reads, the microtask turns of the second) is 1.5–2 µs of a hello world's
// ~13 on the shared socket (docs/architecture.md, "Where the microseconds go"). So, as Hono's own
// Node adapter does with Node's Response, the global Response becomes a subclass that remembers
// the string it was made from (or a copy of a small byte body); every Response, fetch()'s and
// Response.json()'s included, is still `instanceof Response`. Anything else keeps its stream,
// with its length when that is known as Bun.serve knows it (other bytes, a whole file). What an
// app could still tell: fetch()'s objects do not have the global's prototype (a patch to
// Response.prototype misses them), `Response.length` is 2 (Hono's adapter has the same), and
// Bun.file is not the native function.

import { Buffer } from "node:buffer";
import { closeSync, constants, fstatSync, openSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { FileBody } from "./types.ts";

const NativeResponse = globalThis.Response;
// Any Response, the native ones fetch() and Bun.serve's tools make too.
type AnyResponse = InstanceType<typeof NativeResponse>;
const nativeHeaders = Object.getOwnPropertyDescriptor(NativeResponse.prototype, "headers")!.get!;
const JSON_TYPE = "application/json;charset=utf-8";

let bodyOf: (response: Response) => string | Uint8Array | null = () => null;
let typeOf: (response: Response) => string | null = () => null;
let lengthOf: (response: Response) => number = () => -1;
// The file, or part of one, a body is.
let bodyFileOf: (response: AnyResponse) => Blob | null = () => null;
let settleFields: (response: Response) => void = () => {};
let plainFile: (response: AnyResponse) => boolean = () => false;

/** What a native clone of one of our Responses keeps of what its original knew. */
interface CloneFacts {
  type: string | null;
  length: number;
  file: Blob | null;
}
// The native clones of our Responses whose bodies are not remembered.
const clones = new WeakMap<object, CloneFacts>();

// The type Bun keeps out of the headers of a Response made from bytes, and Bun.serve writes (a
// string's is TEXT_TYPE; a typed Blob's, Bun.file's, FormData's and URLSearchParams' are in the
// headers). An untyped Blob's is left out: Bun.serve writes text for a Blob made of strings and
// octet-stream for one with bytes in it, which nothing in JavaScript can tell apart, and no type
// (the client sniffs) is better than a wrong one.
const TEXT_TYPE = "text/plain;charset=utf-8";
const BYTES_TYPE = "application/octet-stream";

// Bytes are copied as they are remembered (the native Response keeps a copy of its own, and the app
// may change its array afterwards): up to a size where the copy costs less than reading a stream.
const BYTES_MAX = 64 * 1024;

// The Blobs Bun.file() made, with the path or fd each names: told apart from their slices (which
// have the same prototype and name, and a `size` that may be more than the file has) and from
// Blobs made of them.
const wholeFiles = new WeakMap<Blob, string | number>();

/** The bytes from `start` on (as many as the part's `size`) of the file a path or fd names. */
interface FilePart {
  where: string | number;
  start: number;
}
// The parts an app cut of Bun.file()'s files (`Bun.file(p).slice(0, 1000)`): Bun.serve sends
// one as it is (a 206 with its Content-Range when it is less than the file), so with --reuse-port
// it goes to Bun.serve untouched, its length read as it is sent, as a whole file's. Also the parts
// fileBody() cuts for a Range: a 206's body has a known length, and the file's name, as Bun.serve
// sends it.
const fileParts = new WeakMap<Blob, FilePart>();

// The bytes a part of a file sends, as Bun.serve sends it: what of it the file has now. Its
// `size` is the part's end, capped by the file's size when the file's Blob had read it (it then
// reads no more), else huge for a part with no end.
function partLength(file: Blob, part: FilePart): number {
  const now = regularFileSize(part.where);
  if (now < 0) return -1;
  return Math.max(0, Math.min(file.size, now - Math.min(part.start, now)));
}

// A whole file's length, read as it is sent: how much of it the body will read, which is its size
// now (as Bun.serve takes it), or less: a Blob keeps the size it first saw, and a body made of it
// again reads no more than that. Not a regular file (a directory, a device): nothing said, the
// body streams. Empty (or of /proc, whose size is 0 until read): 0, as Bun.serve sends it (its
// stream reads nothing of a /proc file either), so an empty file gets its HEAD's length and its
// Content-Disposition too.
function fileLength(file: Blob, where: string | number): number {
  const now = regularFileSize(where);
  if (now <= 0) return now;
  const size = file.size;
  return Number.isSafeInteger(size) && size > 0 ? Math.min(size, now) : -1;
}

// The size of the regular file a path or fd names, as it is now; -1 for anything else (gone, a
// directory, a device).
function regularFileSize(where: string | number): number {
  try {
    const now = typeof where === "number" ? fstatSync(where) : statSync(where);
    return now.isFile() ? now.size : -1;
  } catch {
    return -1;
  }
}

function copyOf(body: ArrayBufferLike | ArrayBufferView): Uint8Array | null {
  // Detached (or out of bounds): an empty body, as natively; slice() would throw.
  if (body.byteLength === 0) return new Uint8Array(0);
  if (body.byteLength > BYTES_MAX) return null;
  if (body instanceof ArrayBuffer) return new Uint8Array(body.slice(0));
  if (!ArrayBuffer.isView(body) || !(body.buffer instanceof ArrayBuffer)) return null;
  return new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
}

// Whether an init gives a Response no header field (Bun then makes a file body's fields, its type,
// only once something reads `headers`), and the init to make it with. Bun takes every shape of
// HeadersInit and gives none when it yields no field: a record's own enumerable keys (of a
// function too), or the pairs of an iterable (Headers, an array, a Map, a generator...). An
// iterable other than those two is spread into pairs first: it may be one-shot, and counted after
// Bun read it, it would seem empty.
function fieldsGiven(init: ResponseInit | undefined): [ResponseInit | undefined, boolean] {
  const fields = init?.headers as unknown;
  if (fields === undefined || fields === null) return [init, false];
  if (fields instanceof Headers) return [init, fields.keys().next().done !== true];
  if (Array.isArray(fields)) return [init, fields.length > 0];
  if (typeof fields !== "object" && typeof fields !== "function") return [init, true];
  if (typeof (fields as Iterable<unknown>)[Symbol.iterator] === "function") {
    const pairs = Array.from(fields as Iterable<[string, string]>);
    // Read in the order Bun reads them: headers first.
    const { status, statusText } = init!;
    return [{ headers: pairs, status, statusText }, pairs.length > 0];
  }
  return [init, Object.keys(fields).length > 0];
}

class Response extends NativeResponse {
  readonly #body: string | Uint8Array | null = null;
  // Set after construction only for a plain file body's type (settleFields).
  #type: string | null = null;
  /** The length of a body not remembered, when known without reading it; else -1. */
  readonly #length: number = -1;
  /**
   * The body, when it is a whole file from Bun.file() or a part of one: its length is read as it
   * is sent.
   */
  readonly #file: Blob | null = null;
  /**
   * A file body's Response whose fields nothing has made yet (no header field given, `headers`
   * not read): Bun.serve sends it without a Content-Type for HEAD, and a part of a file as a 206
   * with its Content-Range. The app's reads of `headers` are told by an own getter, until the
   * Response comes back from the app (settleFields).
   */
  #plain = false;

  /** settleFields ran: the native fields are made, without the type it took out of them. */
  #settled = false;

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    // Asked before the native constructor takes the init (fieldsGiven), for a file body only: a
    // string's or bytes' Response pays for one test.
    const file = body instanceof Blob && (wholeFiles.has(body) || fileParts.has(body));
    let given = true;
    if (file) [init, given] = fieldsGiven(init);
    super(body, init);
    // A string first: what nearly every Response is made from pays for no other test.
    if (typeof body === "string") {
      this.#body = body;
      if (body !== "") this.#type = TEXT_TYPE;
    } else if (
      body instanceof ArrayBuffer || body instanceof SharedArrayBuffer || ArrayBuffer.isView(body)
    ) {
      // Larger or shared bytes stream (the native Response copied them), with their length.
      this.#body = copyOf(body);
      if (body.byteLength > 0) this.#type = BYTES_TYPE;
      if (this.#body === null) this.#length = body.byteLength;
    } else if (body instanceof URLSearchParams) this.#body = body.toString();
    else if (file) {
      this.#file = body as Blob;
      if (!given) {
        this.#plain = true;
        Object.defineProperty(this, "headers", {
          configurable: true,
          get: () => {
            this.#plain = false;
            delete (this as { headers?: Headers }).headers;
            return this.headers;
          },
        });
      }
    }
    // Any other Blob's `size` is no length to send: a slice of a file may report more than the
    // file has, and a Blob made of one the same; reading it now would also fix how much of the
    // file the body reads. It streams.
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
    const ours = #body in this;
    // A plain file body's clone is plain too, as Bun.serve sends it (no type with HEAD, a part's
    // Content-Range), even once the original was answered (its fields made by appserve's reads):
    // one of ours, of the same file, which no native clone of those fields would be.
    if (ours && this.#plain && !this.bodyUsed) {
      return new Response(this.#file, { status: this.status, statusText: this.statusText });
    }
    const body = ours ? this.#body : null;
    if (body === null || this.bodyUsed) {
      const clone = super.clone();
      // The native clone (of large bytes, a Blob) has the same type and length all the same.
      if (ours && (this.#type !== null || this.#length >= 0 || this.#file !== null)) {
        clones.set(clone, { type: this.#type, length: this.#length, file: this.#file });
      }
      return clone;
    }
    return new Response(body as BodyInit, this);
  }

  static {
    bodyOf = (response) => (#body in response ? response.#body : null);
    typeOf = (response) => #type in response ? response.#type : clones.get(response)?.type ?? null;
    lengthOf = (response) => {
      const facts = #length in response ? response : clones.get(response);
      if (facts === undefined) return -1;
      const file = #length in facts ? facts.#file : facts.file;
      if (file !== null) {
        const part = fileParts.get(file);
        return part ? partLength(file, part) : fileLength(file, wholeFiles.get(file)!);
      }
      return #length in facts ? facts.#length : facts.length;
    };
    settleFields = (response) => {
      // Once per Response (the same one may be answered again): a second reading of its fields
      // would find no type in them, and lose it.
      if (!(#plain in response) || !response.#plain || response.#settled) return;
      response.#settled = true;
      delete (response as { headers?: Headers }).headers;
      // The type Bun puts in the fields as they are made: kept out of them, as for a string, so
      // that the writer sends it for a GET only.
      const fields = nativeHeaders.call(response) as Headers;
      response.#type = fields.get("content-type");
      fields.delete("content-type");
    };
    plainFile = (response) => #plain in response && response.#plain;
    bodyFileOf = (response) => {
      const facts = #file in response ? response : clones.get(response);
      if (facts === undefined) return null;
      return #file in facts ? facts.#file : facts.file;
    };
  }
}

let installed = false;
// The native Bun.file(), for a part of a file as it is now (fileBody).
let freshFile: (where: string | number) => Blob = () => new Blob();

type FileMaker = (this: unknown, path: unknown, ...rest: unknown[]) => Blob;
type Slicer = (this: Blob, start?: number, end?: number, ...rest: [string?]) => Blob;

// A part from 0 or on, to an end or the file's: Bun.serve's own arithmetic for a negative index
// (or a part of a part) is not the Blob's, and such a part streams as before.
function partOf(where: string | number, start?: number, end?: number): FilePart | null {
  const index = (n: number | undefined) => n === undefined || (Number.isSafeInteger(n) && n >= 0);
  return index(start) && index(end) ? { where, start: start ?? 0 } : null;
}

/**
 * Makes the global Response the remembering one, and Bun.file() note the files it makes (once;
 * before the app is imported).
 */
export function rememberBodies(): void {
  if (installed) return;
  installed = true;
  globalThis.Response = Response;
  const bun = (globalThis as { Bun?: { file: FileMaker } }).Bun;
  if (bun === undefined) return;
  const native = bun.file;
  freshFile = (where) => native.call(bun, where);
  const nativeSlice: Slicer = Blob.prototype.slice;
  // Named and with the length of the native one; Bun.file()'s files are plain Blobs, so the
  // prototype's is theirs.
  Blob.prototype.slice = function slice(this: Blob, start?: number, end?: number, ...rest) {
    const made = nativeSlice.call(this, start, end, ...rest);
    const where = wholeFiles.get(this);
    const part = where === undefined ? null : partOf(where, start, end);
    if (part !== null) fileParts.set(made, part);
    return made;
  };
  // Named and with one declared parameter, as the native one.
  bun.file = function file(this: unknown, path: unknown, ...rest: unknown[]): Blob {
    const made = native.call(this, path, ...rest);
    // A local path, a file: URL or an fd; an S3 object's size is no stat.
    if (typeof path === "number") wholeFiles.set(made, path);
    else if (typeof path === "string" && !/^s3:/i.test(path)) wholeFiles.set(made, path);
    else if (path instanceof URL && path.protocol === "file:") {
      // One Node cannot turn into a path (a host, an encoded "/"): not known, it streams.
      try {
        wholeFiles.set(made, fileURLToPath(path.href));
      } catch { /* not noted */ }
    }
    return made;
  };
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

/**
 * The length of a body not remembered, known without reading it (bytes over 64 KiB or shared, a whole file
 * from Bun.file()), while nothing has read it; else -1 (Runtime.knownLength).
 */
export function knownLength(response: Response): number {
  return response.bodyUsed ? -1 : lengthOf(response);
}

// The types Bun.serve sends a file as without a Content-Disposition: the media type (up to a `;`,
// untrimmed and case-sensitive, as Bun.serve compares it) of text, an image, audio, video, a font,
// JSON or WebAssembly (measured on Bun 1.4.4; docs/architecture.md, "Bun's routes").
const INLINE_TYPE = /^(?:(?:text|image|audio|video|font)\/[^;]|application\/(?:json|wasm)(?:;|$))/;

// Bun.serve's `content-disposition: filename="NAME"` for a file by a path sent as `type`: NAME is
// the path's last part, as UTF-8 bytes (the head is written as Latin-1), none with a `"` in it.
// An fd names no file.
function dispositionLine(where: string | number, type: string): string {
  if (typeof where !== "string" || INLINE_TYPE.test(type)) return "";
  const name = where.slice(where.lastIndexOf("/") + 1);
  if (name === "" || name.includes('"')) return "";
  return `content-disposition: filename="${Buffer.from(name, "utf8").toString("latin1")}"\r\n`;
}

/**
 * The file from Bun.file(), or the part of one an app cut, a Response's body is, while nothing has
 * read it (Runtime.fileBody); else null. A whole file's length and parts are the file's as it is
 * now, as Bun.serve answers a Range: not the Blob's, which keeps the size it first saw and reads no
 * more than that.
 */
export function fileBody(response: Response): FileBody | null {
  const file = bodyFileOf(response);
  if (file === null || response.bodyUsed) return null;
  const where = wholeFiles.get(file);
  if (where === undefined) {
    // A part is no whole file to take a Range's part of.
    const part = fileParts.get(file)!;
    return {
      length: () => -1,
      slice: () => new Blob(),
      fields: (type) => dispositionLine(part.where, type) + partRangeLine(response, file, part),
    };
  }
  return {
    // A directory or a device: no length to take a part of (it streams, as before).
    length: () => regularFileSize(where),
    slice: (start, end) => {
      // Of a Blob that has not read the file's size: its `size` is end - start.
      const part = freshFile(where).slice(start, end);
      fileParts.set(part, { where, start });
      return part;
    },
    fields: (type) => dispositionLine(where, type),
  };
}

// Bun.serve's `content-range: bytes FIRST-LAST/*` for a plain Response (plainFile) the app gave
// the status 206 with a part of a file that is less than the file (measured, Bun 1.4.4), else "".
// For another status Bun.serve sends 206 too, which is not mimicked: the status stays the app's.
function partRange(response: AnyResponse, file: Blob, part: FilePart): string {
  if (response.status !== 206 || !plainFile(response)) return "";
  const length = partLength(file, part);
  const size = regularFileSize(part.where);
  if (length <= 0 || (part.start === 0 && length >= size)) return "";
  return `bytes ${part.start}-${part.start + length - 1}/*`;
}

function partRangeLine(response: Response, file: Blob, part: FilePart): string {
  const range = partRange(response, file, part);
  return range === "" ? "" : `content-range: ${range}\r\n`;
}

/**
 * `response` with the Content-Range Bun.serve adds to a plain part of a file answered with 206
 * (partRange) to a GET, for --reuse-port: appserve's reads made its fields, so Bun.serve no longer
 * adds it (in place). Its type was taken out of them (settleFields), which Bun.serve then sends
 * for a GET only, as for a plain one.
 */
export function withPartRange(response: AnyResponse, method: string): AnyResponse {
  const file = method === "HEAD" ? null : bodyFileOf(response);
  const part = file === null || response.bodyUsed ? undefined : fileParts.get(file);
  const range = part === undefined ? "" : partRange(response, file!, part);
  if (range !== "") nativeHeaders.call(response).set("content-range", range);
  return response;
}

// Bun.serve's own words for a directory it was asked to send (its `error` option gets them).
const DIRECTORY = "Cannot stream a directory as a response body";

// A failure found before the body is sent: the runtime's error, without the stack of appserve's
// check (it is no place in the app's code; Bun.serve's error has no frames either).
function frameless(error: Error): Error {
  error.stack = `${error.name}: ${error.message}`;
  return error;
}

/**
 * Why the file (or part of one) `response`'s body is cannot be sent, as Bun.serve would fail on
 * it when it comes to send it: the error its `error` option gets (the open's ENOENT or EACCES, a
 * directory's EISDIR); null when it can be sent, or is no file by a path (Runtime.fileFailure).
 */
export function fileFailure(response: Response): Error | null {
  const file = bodyFileOf(response);
  if (file === null || response.bodyUsed) return null;
  // Asked as the Response comes back from the app: what the app did to its fields is known now,
  // and appserve's own reads from here on must not count as the app's.
  settleFields(response);
  const where = wholeFiles.get(file) ?? fileParts.get(file)?.where;
  if (typeof where !== "string") return null;
  let fd: number;
  try {
    // Non-blocking, as Bun opens it: a FIFO with no writer must not hold the worker's loop.
    fd = openSync(where, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    return frameless(error as Error);
  }
  try {
    if (!fstatSync(fd).isDirectory()) return null;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
  return frameless(Object.assign(new Error(DIRECTORY), {
    code: "EISDIR",
    errno: -21,
    syscall: "read",
    path: where,
  }));
}
