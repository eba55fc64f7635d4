// The values of the syslog settings: gunicorn's facility names and its
// --log-syslog-to address forms. Here rather than in src/log/ so the settings
// table can check them at start, in one line, before anything is bound.

import { checked } from "./validators.ts";

/** gunicorn's SYSLOG_FACILITIES: name → facility code (RFC 5424 table 1). */
export const SYSLOG_FACILITIES = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  security: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;
export type SyslogFacility = keyof typeof SYSLOG_FACILITIES;
export const SYSLOG_FACILITY_NAMES = Object.keys(SYSLOG_FACILITIES) as SyslogFacility[];

/** gunicorn's default on Linux. */
export const DEFAULT_SYSLOG_ADDR = "udp://localhost:514";

/** Where syslog lines go. `unix` without `#dgram`/`#stream` tries a datagram socket, then a stream. */
export type SyslogAddr =
  | { transport: "udp" | "tcp"; host: string; port: number }
  | { transport: "unix"; path: string; socket: "dgram" | "stream" | "either" };

/**
 * Parses gunicorn's `--log-syslog-to` forms: `udp://HOST[:PORT]`, `tcp://HOST[:PORT]` (port 514
 * by default, `[v6]` hosts) and `unix://PATH[#dgram|#stream]`. Throws an Error that says why.
 */
export function parseSyslogAddr(text: string): SyslogAddr {
  const scheme = /^([a-z]+):\/\//i.exec(text)?.[1].toLowerCase();
  if (scheme === "unix") {
    const [path, kind] = text.slice("unix://".length).split("#", 2);
    if (path === "") throw new Error(`no socket path in "${text}"`);
    if (kind !== undefined && kind !== "dgram" && kind !== "stream") {
      throw new Error(`expected #dgram or #stream after the path, got "#${kind}"`);
    }
    return { transport: "unix", path, socket: kind ?? "either" };
  }
  if (scheme !== "udp" && scheme !== "tcp") {
    throw new Error(
      `expected udp://HOST:PORT, tcp://HOST:PORT or unix://PATH, got "${text}"`,
    );
  }
  const rest = text.slice(scheme.length + 3);
  const m = /^(\[[^\]]+\]|[^:/\[\]]*)(?::(\d*))?$/.exec(rest);
  if (!m) throw new Error(`expected ${scheme}://HOST:PORT, got "${text}"`);
  const host = m[1].replace(/^\[(.*)\]$/, "$1").toLowerCase() || "localhost";
  const port = m[2] === undefined ? 514 : Number(m[2]);
  if (m[2] === "" || !(port >= 1 && port <= 65535)) {
    throw new Error(`"${m[2]}" is not a valid port number in "${text}"`);
  }
  return { transport: scheme, host, port };
}

/** The syslog_addr setting's type. */
export const syslogAddr = checked(
  "udp://HOST:PORT, tcp://HOST:PORT or unix://PATH[#dgram|#stream]",
  (s) => {
    try {
      parseSyslogAddr(s);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  },
);
