// Raw-socket helpers for the edge tests: send bytes (TCP or unix), collect everything the server
// says until it closes.

import { Buffer } from "node:buffer";
import { connect, type Socket } from "node:net";

export interface RawAnswer {
  /** Everything received, as latin1 text. */
  text: string;
  /** Status of the first response, or 0 when none came. */
  status: number;
}

/** Opens a connection to a TCP port on 127.0.0.1 or to a unix socket path. */
export function rawConnect(where: number | string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = typeof where === "number"
      ? connect(where, "127.0.0.1")
      : connect({ path: where });
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Reads until the server closes (or `ms` passes), then returns what came. */
export function readAll(socket: Socket, ms = 10_000): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(parts).toString("latin1");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ text, status: m ? Number(m[1]) : 0 });
    };
    const timer = setTimeout(done, ms);
    socket.on("data", (d: Buffer) => parts.push(d));
    socket.on("close", done);
    socket.on("error", () => {});
  });
}

/** Sends `bytes` on a fresh connection and reads the answer until the server closes. */
export async function rawExchange(
  where: number | string,
  bytes: Uint8Array | string,
  ms = 10_000,
): Promise<RawAnswer> {
  const socket = await rawConnect(where);
  const answer = readAll(socket, ms);
  socket.write(typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes);
  return answer;
}

/**
 * The body bytes of the chunked response in `text` (latin1, head included) received so far: its
 * whole chunks, up to where the text stops (a response cut mid-body).
 */
export function chunkedBytesSoFar(text: string): number {
  let i = text.indexOf("\r\n\r\n") + 4;
  let bytes = 0;
  for (;;) {
    const lineEnd = text.indexOf("\r\n", i);
    if (lineEnd < 0) return bytes;
    const size = parseInt(text.slice(i, lineEnd), 16);
    if (!(size > 0) || lineEnd + 2 + size + 2 > text.length) return bytes;
    bytes += size;
    i = lineEnd + 2 + size + 2;
  }
}

/**
 * A GET of `target` on a raw connection to `port`, resolved once what came satisfies `until`
 * (within `ms`): `got()` is what came so far (latin1), `ended` settles when the server closed
 * the connection.
 */
export async function rawGetUntil(
  port: number,
  target: string,
  until: (got: string) => boolean,
  ms = 10_000,
): Promise<{ got: () => string; ended: Promise<void> }> {
  const socket = await rawConnect(port);
  let got = "";
  socket.on("error", () => {});
  const ended = new Promise<void>((done) => socket.once("close", () => done()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no such answer yet: ${got}`)), ms);
    socket.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      if (until(got)) {
        clearTimeout(timer);
        resolve();
      }
    });
    socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
  });
  return { got: () => got, ended };
}
