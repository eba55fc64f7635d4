// The servers scripts/bench/otel.ts measures: appserve -w 1 under deno run (from this
// tree, a copy with the span hook taken out, or a base checkout) or as the binary with
// Bun workers, each exporting its spans (when on) to an OTLP/HTTP receiver of its own
// in the bench process, so every row counts the spans it sent.

import { createServer } from "node:http";
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import {
  appserveTarget,
  BenchError,
  freePort,
  HOST,
  launch,
  type Proc,
  ROOT,
  waitReady,
} from "./procs.ts";

/** How a server's spans are made: Deno's exporter (OTEL_DENO) or the SDK the app registers. */
export type Otel = "deno" | "sdk";

export interface Variant {
  name: string;
  /** deno run from `tree` (Deno workers), or this tree's binary (Bun workers). */
  target: "deno" | "binary";
  tree: string;
  /** The app module, under scripts/bench/. */
  app: "hello_app.ts" | "otel_sdk_app.ts";
  otel?: Otel;
  /** Extra arguments (--reuse-port: the runtime's own server). */
  args?: string[];
  /** The row its req/s are compared with, round by round. */
  against: string;
}

export interface Running extends Variant {
  proc: Proc;
  url: string;
  receiver?: Receiver;
  rps: number[];
  requests: number;
  cpu: number;
  /** Spans received during the rounds per request measured (none when off). */
  spansPerRequest?: number;
}

export interface Receiver {
  endpoint: string;
  spans(): number;
  close(): void;
}

/** Counts the spans OTLP/JSON export requests carry. */
async function receiver(): Promise<Receiver> {
  let spans = 0;
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      spans += body.split('"spanId"').length - 1;
      res.setHeader("content-type", "application/json");
      res.end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const port = (server.address() as { port: number }).port;
  return { endpoint: `http://${HOST}:${port}`, spans: () => spans, close: () => server.close() };
}

function otelEnv(otel: Otel, endpoint: string): Record<string, string> {
  // The SDK's OTLPTraceExporter (exporter-trace-otlp-http) sends JSON to ENDPOINT/v1/traces.
  if (otel === "sdk") return { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint };
  return {
    OTEL_DENO: "true",
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_DENO_CONSOLE: "ignore",
  };
}

const HOOKLESS = join(ROOT, ".tmp", "otel_bench_hookless");

/**
 * A copy of this tree's sources (node_modules linked) whose withRequestSpans returns the app's
 * handler without looking for OpenTelemetry: the build without the span hook.
 */
export function hooklessTree(): string {
  rmSync(HOOKLESS, { recursive: true, force: true });
  mkdirSync(HOOKLESS, { recursive: true });
  for (const part of ["src", "workers", "mod.ts", "deno.json", "package.json"]) {
    cpSync(join(ROOT, part), join(HOOKLESS, part), { recursive: true });
  }
  symlinkSync(join(ROOT, "node_modules"), join(HOOKLESS, "node_modules"));
  const file = join(HOOKLESS, "src/log/request_span.ts");
  const text = readFileSync(file, "utf8");
  const hook = "if (!otelRegistered()) return handler;";
  if (!text.includes(hook)) throw new BenchError(`${file}: no "${hook}" to take out`);
  writeFileSync(file, text.replace(hook, "return handler;"));
  return HOOKLESS;
}

export function removeHooklessTree(): void {
  rmSync(HOOKLESS, { recursive: true, force: true });
}

export async function startServer(v: Variant): Promise<Running> {
  const port = await freePort();
  const target = appserveTarget(v.target, v.tree);
  const rx = v.otel ? await receiver() : undefined;
  const env = v.otel && rx ? otelEnv(v.otel, rx.endpoint) : {};
  const args = [...target.prefix, "-w", "1", ...v.args ?? [], "-b", `${HOST}:${port}`];
  args.push(join(ROOT, "scripts/bench", v.app));
  // spawn copies the environment at the call: set this variant's, then restore.
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const proc = launch(v.name, target.command, args, v.tree);
  for (const key of Object.keys(env)) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
  const running = {
    ...v,
    proc,
    receiver: rx,
    url: `http://${HOST}:${port}/`,
    rps: [],
    requests: 0,
    cpu: 0,
  };
  try {
    await waitReady(v.name, [proc], port, () => /Booting worker/.test(proc.output));
  } catch (error) {
    rx?.close();
    throw error;
  }
  return running;
}
