// Encodes and decodes Linux sockaddr structures for the FFI socket calls.

import { isIPv4, isIPv6 } from "node:net";
import type { Libc } from "../runtime/types.ts";
import { AF_INET, AF_INET6, AF_UNIX } from "./socket_constants.ts";

/** sun_path is 108 bytes including the terminating NUL. */
export const UNIX_PATH_MAX = 107;

function ipv6Bytes(host: string): Uint8Array {
  const out = new Uint8Array(16);
  let text = host.split("%")[0];
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    tail.push(...v4[1].split(".").map(Number));
    text = text.slice(0, -v4[1].length) + "0:0";
  }
  const [head, rest] = text.includes("::") ? text.split("::") : [text, undefined];
  const words = (s: string) => (s === "" ? [] : s.split(":").map((w) => parseInt(w, 16)));
  const left = words(head);
  const right = rest === undefined ? [] : words(rest);
  const all = [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  all.forEach((w, i) => {
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  });
  if (tail.length) out.set(tail, 12);
  return out;
}

/** sockaddr_in / sockaddr_in6 for an IP literal. */
export function inetSockaddr(host: string, port: number): Uint8Array {
  if (isIPv4(host)) {
    const sa = new Uint8Array(16);
    const view = new DataView(sa.buffer);
    view.setUint16(0, AF_INET, true);
    view.setUint16(2, port, false);
    sa.set(host.split(".").map(Number), 4);
    return sa;
  }
  if (!isIPv6(host)) throw new Error(`not an IP address: ${host}`);
  const sa = new Uint8Array(28);
  const view = new DataView(sa.buffer);
  view.setUint16(0, AF_INET6, true);
  view.setUint16(2, port, false);
  sa.set(ipv6Bytes(host), 8);
  return sa;
}

/** sockaddr_un for a filesystem path. */
export function unixSockaddr(path: string): Uint8Array {
  const bytes = new TextEncoder().encode(path);
  const sa = new Uint8Array(2 + bytes.length + 1);
  new DataView(sa.buffer).setUint16(0, AF_UNIX, true);
  sa.set(bytes, 2);
  return sa;
}

/** A sockaddr filled in by getsockname(): family, port, and host or unix path. */
export interface DecodedSockaddr {
  family: number;
  port: number;
  host: string;
  path: string;
}

export function decodeSockaddr(sa: Uint8Array, length: number): DecodedSockaddr {
  const view = new DataView(sa.buffer, sa.byteOffset);
  const family = view.getUint16(0, true);
  const port = family === AF_UNIX ? 0 : view.getUint16(2, false);
  let host = "";
  let path = "";
  if (family === AF_INET) host = [...sa.subarray(4, 8)].join(".");
  if (family === AF_INET6) {
    const words = Array.from(
      { length: 8 },
      (_, i) => view.getUint16(8 + i * 2, false).toString(16),
    );
    host = words.join(":").replace(/(^|:)0(:0)+(:|$)/, "::").replace(/:{3,}/, "::");
  }
  if (family === AF_UNIX) {
    const bytes = sa.subarray(2, length);
    const end = bytes.indexOf(0);
    path = new TextDecoder().decode(end === -1 ? bytes : bytes.subarray(0, end));
  }
  return { family, port, host, path };
}

/** What socket `fd` is bound to (getsockname); family -1 when it cannot be asked. */
export function socketName(libc: Libc, fd: number): DecodedSockaddr {
  const sa = new Uint8Array(128);
  const len = new Uint32Array([128]);
  if (libc.getsockname(fd, sa, new Uint8Array(len.buffer)) !== 0) {
    return { family: -1, port: 0, host: "", path: "" };
  }
  return decodeSockaddr(sa, len[0]);
}
