// Which rows `make bench`'s targets measure (scripts/bench/targets.ts), each with its peer, its
// ceiling and its target; with a base checkout, each appserve row also as "before".

import {
  appserve,
  argsOf,
  FLAVOUR_NAME,
  flavourOf,
  gunicorn,
  rawFixed,
  rawServe,
  type Server,
} from "./target_servers.ts";

export type Part = "tcp" | "close" | "nginx" | "gthread" | "gunicorn";
/** How wrk reaches the server: straight over TCP, or through nginx on unix sockets. */
export type Via = "tcp" | "tcp-close" | "nginx" | "nginx-keepalive";

export interface Row {
  part: Part;
  via: Via;
  server: Server;
  /** The row this one is compared against (its raw peer), by key; none for a peer. */
  peer?: string;
  /** The fixed-reply node:net server on the shared socket, the ceiling of this mode, by key. */
  ceiling?: string;
  target?: { rps?: number; cpu?: number };
  key: string;
}

export function rows(parts: Set<Part>, base?: string): Row[] {
  const out: Row[] = [];
  const add = (
    part: Part,
    via: Via,
    server: Server,
    peer?: string,
    target?: Row["target"],
    ceiling?: string,
  ) => {
    const row = { part, via, server, peer, target, ceiling, key: `${via}: ${server.name}` };
    out.push(row);
    if (base && server.name.startsWith("appserve")) {
      const before = appserve(flavourOf(server), argsOf(server), base);
      out.push({ ...row, server: before, key: `${via}: ${before.name}` });
    }
    return row.key;
  };
  const bun2 = rawServe("Bun", 2);
  const deno2 = rawServe("Deno", 2);
  const w2 = ["-w", "2"];
  if (parts.has("tcp")) {
    // The fetch contract's floor too: what any fetch server on node:net pays per request.
    const bunPeer = add("tcp", "tcp", bun2);
    const bunFixed = add("tcp", "tcp", rawFixed("Bun", 2));
    add("tcp", "tcp", rawFixed("Bun", 2, "contract"), bunPeer);
    add("tcp", "tcp", appserve("binary", w2), bunPeer, { rps: 0.85, cpu: 1.3 }, bunFixed);
    const denoPeer = add("tcp", "tcp", deno2);
    const denoFixed = add("tcp", "tcp", rawFixed("Deno", 2));
    add("tcp", "tcp", rawFixed("Deno", 2, "contract"), denoPeer);
    add("tcp", "tcp", appserve("deno", w2), denoPeer, { rps: 0.85, cpu: 1.3 }, denoFixed);
    const t = { rps: 0.85, cpu: 1.3 };
    add("tcp", "tcp", appserve("binary-deno", w2), denoPeer, t, denoFixed);
  }
  if (parts.has("close")) {
    const bunPeer = add("close", "tcp-close", bun2);
    add("close", "tcp-close", appserve("binary", w2), bunPeer);
    const denoPeer = add("close", "tcp-close", deno2);
    add("close", "tcp-close", appserve("deno", w2), denoPeer);
  }
  if (parts.has("nginx")) {
    for (const via of ["nginx", "nginx-keepalive"] as const) {
      const t = { rps: via === "nginx" ? 0.9 : 0.95, cpu: 1.3 };
      // With upstream keepalive the fetch contract's ceiling too: what 0.95× leaves appserve.
      const contract = via === "nginx-keepalive";
      const bunPeer = add("nginx", via, bun2);
      const bunFixed = add("nginx", via, rawFixed("Bun", 2));
      if (contract) add("nginx", via, rawFixed("Bun", 2, "contract"), bunPeer);
      add("nginx", via, appserve("binary", w2), bunPeer, t, bunFixed);
      const denoPeer = add("nginx", via, deno2);
      const denoFixed = add("nginx", via, rawFixed("Deno", 2));
      if (contract) add("nginx", via, rawFixed("Deno", 2, "contract"), denoPeer);
      add("nginx", via, appserve("deno", w2), denoPeer, t, denoFixed);
    }
  }
  if (parts.has("gthread")) {
    const gthread = ["-w", "1", "-k", "gthread", "--threads", "2"];
    for (const via of ["tcp", "tcp-close"] as const) {
      // The -w 2 row is the tcp (close) part's, when that part runs.
      const peer = parts.has(via === "tcp" ? "tcp" : "close")
        ? `${via}: ${FLAVOUR_NAME.binary} -w 2`
        : add("gthread", via, appserve("binary", w2));
      add("gthread", via, appserve("binary", gthread), peer, { rps: 0.9 });
    }
  }
  if (parts.has("gunicorn")) {
    add("gunicorn", "tcp", gunicorn);
    add("gunicorn", "nginx", gunicorn);
  }
  return out;
}
