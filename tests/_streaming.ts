// Helpers for tests that push large bodies through a worker: a raw HTTP/1.1
// client that uploads and downloads at the same time without holding either
// body, and the worker's resident memory from /proc.

import { readFileSync } from "node:fs";
import { connect } from "node:net";

export const GiB = 1024 * 1024 * 1024;

/** VmRSS of a process in MiB. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** Calls `sample` every 100 ms until the returned function is called; returns the peak. */
export function peakOf(sample: () => number): () => number {
  let peak = 0;
  const take = () => {
    try {
      peak = Math.max(peak, sample());
    } catch { /* the process may be gone at the very end */ }
  };
  take();
  const timer = setInterval(take, 100);
  return () => {
    clearInterval(timer);
    take();
    return peak;
  };
}

/** Counts the bytes of a body of known length. */
class RawCounter {
  payload = 0;
  finished = false;
  constructor(readonly length: number) {
    this.finished = length === 0;
  }
  feed(buf: Uint8Array): void {
    this.payload += buf.length;
    this.finished = this.payload >= this.length;
  }
}

/** Counts the payload bytes of a chunked body as it arrives. */
class ChunkedCounter {
  payload = 0;
  finished = false;
  #left = 0; // payload bytes left in the current chunk
  #line = ""; // a size line being read
  #state: "size" | "data" | "crlf" = "size";

  feed(buf: Uint8Array): void {
    let i = 0;
    while (i < buf.length && !this.finished) {
      if (this.#state === "data") {
        const n = Math.min(this.#left, buf.length - i);
        this.payload += n;
        this.#left -= n;
        i += n;
        if (this.#left === 0) this.#state = "crlf";
      } else if (this.#state === "crlf") {
        if (buf[i++] === 10) this.#state = "size";
      } else {
        const c = buf[i++];
        if (c !== 10) {
          this.#line += String.fromCharCode(c);
          continue;
        }
        const size = parseInt(this.#line.trim(), 16);
        this.#line = "";
        if (size === 0) this.finished = true;
        else {
          this.#left = size;
          this.#state = "data";
        }
      }
    }
  }
}

/**
 * POSTs `bytes` bytes to `url` (made on the fly in 64 KiB pieces, sent as the
 * socket drains) and reads the chunked response at the same time. Resolves
 * with the status and the response payload size (chunked or of a declared length).
 */
export function streamThrough(
  url: string,
  bytes: number,
): Promise<{ status: number; received: number }> {
  const { hostname, port, pathname, search } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const piece = new Uint8Array(65536).fill(120);
    let sent = 0;
    let head = "";
    let status = 0;
    let counter: ChunkedCounter | RawCounter = new ChunkedCounter();
    const pump = () => {
      while (sent < bytes) {
        const n = Math.min(piece.length, bytes - sent);
        sent += n;
        if (!socket.write(n === piece.length ? piece : piece.subarray(0, n))) {
          socket.once("drain", pump);
          return;
        }
      }
    };
    socket.on("connect", () => {
      socket.write(
        `POST ${pathname}${search} HTTP/1.1\r\nhost: ${hostname}\r\n` +
          `content-length: ${bytes}\r\nconnection: close\r\n\r\n`,
      );
      pump();
    });
    socket.on("data", (data: Uint8Array) => {
      if (status === 0) {
        head += new TextDecoder("latin1").decode(data);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        status = Number(head.split(" ")[1]);
        const length = /content-length: (\d+)/i.exec(head.slice(0, end));
        if (length) counter = new RawCounter(Number(length[1]));
        // latin1 round trip keeps every byte of what followed the head.
        counter.feed(Uint8Array.from(head.slice(end + 4), (ch) => ch.charCodeAt(0)));
      } else counter.feed(data);
      if (counter.finished) {
        socket.destroy();
        resolve({ status, received: counter.payload });
      }
    });
    socket.on("error", reject);
    socket.on("close", () => {
      if (!counter.finished) reject(new Error(`connection closed after ${counter.payload} bytes`));
    });
  });
}
