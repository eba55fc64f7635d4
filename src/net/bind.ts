// Parses the --bind forms gunicorn accepts into a typed address, so every
// later step (socket creation, logging, reuse-port) switches on `kind`.

/** Where to listen. */
export type Address =
  | { kind: "tcp"; host: string; port: number }
  | { kind: "unix"; path: string }
  | { kind: "fd"; fd: number };

export const DEFAULT_PORT = 8000;

/** Thrown for a bind string that cannot be parsed; the caller adds the source. */
export class BindError extends Error {}

function parsePort(text: string, bind: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new BindError(`Invalid bind "${bind}": port must be an integer from 0 to 65535`);
  }
  return Number(text);
}

/**
 * Parses `HOST`, `HOST:PORT`, `[IPV6]:PORT`, `:PORT`, `unix:PATH` or `fd://N`; as gunicorn's
 * parse_address, `tcp://` before a TCP address and `unix://PATH` are taken too.
 *
 * @example
 * ```ts
 * parseBind("[::1]:8080"); // { kind: "tcp", host: "::1", port: 8080 }
 * ```
 */
export function parseBind(bind: string): Address {
  if (bind.startsWith("tcp://")) return parseTcp(bind.slice(6), bind);
  if (bind.startsWith("unix:")) {
    const path = bind.slice(bind.startsWith("unix://") ? 7 : 5);
    if (path === "") throw new BindError(`Invalid bind "${bind}": unix: needs a socket path`);
    return { kind: "unix", path };
  }
  if (bind.startsWith("fd://")) {
    const text = bind.slice(5);
    if (!/^\d+$/.test(text)) {
      throw new BindError(`Invalid bind "${bind}": fd:// needs a file descriptor number`);
    }
    return { kind: "fd", fd: Number(text) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(bind)) {
    throw new BindError(
      `Invalid bind "${bind}": unknown scheme (use HOST:PORT, tcp://HOST:PORT, unix:PATH or fd://N)`,
    );
  }
  return parseTcp(bind, bind);
}

/** `text` is the TCP part of `bind`, which error messages quote whole. */
function parseTcp(text: string, bind: string): Address {
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    const rest = text.slice(close + 1);
    if (close < 2 || (rest !== "" && !rest.startsWith(":"))) {
      throw new BindError(`Invalid bind "${bind}": expected [IPV6]:PORT`);
    }
    const port = rest === "" ? DEFAULT_PORT : parsePort(rest.slice(1), bind);
    return { kind: "tcp", host: text.slice(1, close), port };
  }
  const colon = text.lastIndexOf(":");
  if (colon === -1) {
    if (text === "" || /\s/.test(text)) throw new BindError(`Invalid bind "${bind}": empty host`);
    // A port meant alone would be taken for a host (an IPv4 address as one number).
    if (/^\d+$/.test(text)) {
      throw new BindError(
        `Invalid bind "${bind}": a port alone is written ":${text}" (every interface) or ` +
          `"127.0.0.1:${text}"`,
      );
    }
    return { kind: "tcp", host: text, port: DEFAULT_PORT };
  }
  if (text.indexOf(":") !== colon) {
    throw new BindError(`Invalid bind "${bind}": put IPv6 addresses in brackets, as [::1]:8000`);
  }
  const host = text.slice(0, colon) || "0.0.0.0";
  if (/\s/.test(host)) throw new BindError(`Invalid bind "${bind}": bad host`);
  return { kind: "tcp", host, port: parsePort(text.slice(colon + 1), bind) };
}

/** Renders an address the way gunicorn's "Listening at:" line does (https when TLS is on). */
export function formatAddress(address: Address, scheme: "http" | "https" = "http"): string {
  switch (address.kind) {
    case "unix":
      return `unix:${address.path}`;
    case "fd":
      return `fd://${address.fd}`;
    case "tcp":
      return address.host.includes(":")
        ? `${scheme}://[${address.host}]:${address.port}`
        : `${scheme}://${address.host}:${address.port}`;
  }
}
