// The servers `make bench`'s targets run (scripts/bench/targets.ts): the raw peers, the
// fixed-reply ceiling of the shared socket, appserve (now, or built from a base checkout) and gunicorn.

import { appserveTarget, BUN, DENO, HOST, type Proc } from "./procs.ts";

const APP = "scripts/bench/hello_app.ts";
const RAW_SERVE = "scripts/bench/raw_serve.ts";
const RAW_INHERITED = "scripts/bench/raw_inherited.ts";
const GUNICORN_APP = "cpu_wsgi:app";

export interface Launch {
  command: string;
  args: string[];
}

/** One server, started fresh for each measurement. */
export interface Server {
  name: string;
  /** Processes it serves with (the raw peer's count must match appserve's). */
  procs: number;
  /** What to start, listening on `at` (a TCP port, or unix socket paths, one per launch). */
  launches(at: { port: number } | { sockets: string[] }): Launch[];
  /** How many unix sockets it listens on behind nginx (raw servers: one each). */
  sockets: number;
  ready(procs: Proc[]): boolean;
}

export function rawServe(runtime: "Deno" | "Bun", procs: number): Server {
  const run = (where: string): Launch =>
    runtime === "Deno"
      ? { command: DENO, args: ["run", "-A", "--unstable-net", "--quiet", RAW_SERVE, where] }
      : { command: BUN, args: [RAW_SERVE, where] };
  return {
    name: `raw ${runtime}.serve ×${procs}`,
    procs,
    sockets: procs,
    launches: (at) =>
      "port" in at
        ? Array.from({ length: procs }, () => run(String(at.port)))
        : at.sockets.map((s) => run(s)),
    ready: (ps) => ps.every((p) => /^ready /m.test(p.output)),
  };
}

/**
 * The ceiling of the shared-socket mode: node:net on the one inherited socket, answering every
 * request head with a pre-encoded reply (no HTTP parsing, no Request, no Response). `contract`:
 * after building the Request and Response any fetch server owes its app (fixed_reply.ts).
 */
export function rawFixed(
  runtime: "Deno" | "Bun",
  procs: number,
  kind: "fixed" | "contract" = "fixed",
): Server {
  const script = (where: string): Launch =>
    runtime === "Deno"
      ? {
        command: DENO,
        args: ["run", "-A", "--unstable-net", "--quiet", RAW_INHERITED, where, `${procs}`, kind],
      }
      : { command: BUN, args: [RAW_INHERITED, where, `${procs}`, kind] };
  const what = kind === "fixed" ? "fixed reply" : "fixed reply + Request and Response";
  return {
    name: `${runtime} node:net ${what}, shared socket ×${procs}`,
    procs,
    sockets: 1,
    launches: (at) => [script("port" in at ? String(at.port) : at.sockets[0])],
    ready: (ps) => (ps[0].output.match(/^ready /gm)?.length ?? 0) >= procs,
  };
}
export type Flavour = "deno" | "binary" | "binary-deno";
export const FLAVOUR_NAME: Record<Flavour, string> = {
  deno: "appserve deno run",
  binary: "appserve binary",
  "binary-deno": "appserve binary, Deno workers",
};

export function appserve(flavour: Flavour, args: string[], base?: string): Server {
  const t = appserveTarget(flavour, base ?? "");
  const workers = Number(args[args.indexOf("-w") + 1]);
  const threads = args.includes("--threads") ? ` ${args.join(" ")}` : ` -w ${workers}`;
  return {
    name: `${FLAVOUR_NAME[flavour]}${threads}${base ? " (before)" : ""}`,
    procs: workers,
    sockets: 1,
    launches: (at) => [{
      command: t.command,
      args: [
        ...t.prefix,
        ...args,
        "-b",
        "port" in at ? `${HOST}:${at.port}` : `unix:${at.sockets[0]}`,
        APP,
      ],
    }],
    ready: (ps) => (ps[0].output.match(/Booting worker with pid/g)?.length ?? 0) >= workers,
  };
}

export const gunicorn: Server = {
  name: "gunicorn sync -w 2",
  procs: 2,
  sockets: 1,
  launches: (at) => [{
    command: "gunicorn",
    args: [
      "-w",
      "2",
      "-k",
      "sync",
      "-b",
      "port" in at ? `${HOST}:${at.port}` : `unix:${at.sockets[0]}`,
      "--chdir",
      "scripts/bench",
      GUNICORN_APP,
    ],
  }],
  ready: (ps) => (ps[0].output.match(/Booting worker with pid/g)?.length ?? 0) >= 2,
};
// A "before" row is the same server built from the base checkout.
export function flavourOf(s: Server): Flavour {
  return s.name.startsWith(FLAVOUR_NAME["binary-deno"])
    ? "binary-deno"
    : s.name.startsWith(FLAVOUR_NAME.binary)
    ? "binary"
    : "deno";
}
export function argsOf(s: Server): string[] {
  const m = s.name.match(/ (-w \d+.*)$/)![1];
  return m.split(" ");
}
