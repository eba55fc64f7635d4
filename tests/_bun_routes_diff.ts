// The differential harness for Bun's `routes` (and Range answers, tests/e2e/byte_range_test.ts):
// one app module served by the real Bun.serve (under node_modules' Bun) and by appserve, the same
// requests sent to both, and what differs in status, body and the headers that matter listed. A
// static route's ETag is compared as there or not (each server hashes the body its own way, an
// app's own is compared whole); the headers of the connection (Date, Connection) are left out.

import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { join } from "node:path";
import process from "node:process";
import { FIXTURES, get, type HttpAnswer, ROOT } from "./_helpers.ts";
import { PATHS } from "./_procs.ts";

/** One request of the comparison. */
export interface Probe {
  method?: string;
  path: string;
  body?: string;
  headers?: Record<string, string>;
  /**
   * A HEAD whose Content-Type is not compared, known to differ (docs/architecture.md): Bun.serve
   * sends none for a handler's Response whose type it infers from the body (a string, a file),
   * Deno workers the type Deno's Response has in its fields, the shared socket a file's.
   */
  headTypeDiffers?: boolean;
}

/** The headers compared: what an app's Response or Bun's router decides. */
const COMPARED = ["content-type", "content-length", "location", "x-static", "etag"];

// An ETag of each server's own making: a quoted 16-digit hex hash.
const HASH_TAG = /^"[0-9a-f]{16}"$/;

/** Serves APP with the real Bun.serve (under node_modules' Bun) until `stop`, `env` added. */
export function serveWithBun(
  app: string,
  env: Record<string, string> = {},
): Promise<{ url: string; stop: () => void }> {
  return serveWith([PATHS.bun, join(FIXTURES, "bun", "serve_app.ts"), app], env);
}

/** Serves APP with the real Deno.serve (under node_modules' Deno) until `stop`. */
export function serveWithDeno(app: string): Promise<{ url: string; stop: () => void }> {
  return serveWith([PATHS.deno, "run", "-A", join(FIXTURES, "deno_serve_app.ts"), app], {});
}

// Runs COMMAND, a script that prints the URL it serves on as its first line, until `stop`.
async function serveWith(
  [program, ...args]: string[],
  env: Record<string, string>,
): Promise<{ url: string; stop: () => void }> {
  const child = spawn(join(ROOT, program), args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    lines.once("line", resolve);
    child.once("exit", (code) => reject(new Error(`${args.join(" ")} exited ${code}`)));
  });
  return { url, stop: () => child.kill("SIGKILL") };
}

function summary(answer: HttpAnswer, probe: Probe, compared: string[]): string {
  const headers = compared.map((name) => {
    let value = answer.headers[name];
    // The media type only: the parameters are each runtime's own Response's (Deno's string is
    // charset=UTF-8, its Response.json has none), the same from fetch.
    if (name === "content-type" && typeof value === "string") {
      value = value.split(";")[0].toLowerCase();
    }
    if (name === "content-type" && probe.headTypeDiffers) value = undefined;
    if (name === "etag" && typeof value === "string" && HASH_TAG.test(value)) value = "hash";
    return `${name}=${value ?? "-"}`;
  }).join(" ");
  return `${answer.status} ${JSON.stringify(answer.body)} ${headers}`;
}

/**
 * The probes whose answers differ, each as "METHOD PATH: bun ... | appserve ..."; `more`: header
 * fields compared besides the usual ones.
 */
export async function differences(
  bunUrl: string,
  appserveUrl: string,
  probes: Probe[],
  more: string[] = [],
): Promise<string[]> {
  const found: string[] = [];
  const compared = [...COMPARED, ...more];
  for (const probe of probes) {
    const options = { method: probe.method ?? "GET", body: probe.body, headers: probe.headers };
    const bun = summary(await get(bunUrl + probe.path, options), probe, compared);
    const ours = summary(await get(appserveUrl + probe.path, options), probe, compared);
    if (bun !== ours) {
      const asked = probe.headers ? ` ${JSON.stringify(probe.headers)}` : "";
      found.push(`${options.method} ${probe.path}${asked}: bun ${bun} | appserve ${ours}`);
    }
  }
  return found;
}

/** What tests/fixtures/apps/bun_routes_app.ts is asked. */
export const ROUTES_APP_PROBES: Probe[] = [
  // Static Responses: a fresh body every time, any method, HEAD without the body.
  { path: "/static" },
  { path: "/static" },
  { method: "POST", path: "/static", body: "x" },
  { method: "HEAD", path: "/static" },
  { path: "/static?query=1" },
  { path: "/json" },
  { path: "/gone" },
  // A static route's fields with GET and HEAD alike: a string's type, none for an empty string,
  // a Blob's length.
  { method: "HEAD", path: "/json" },
  { method: "HEAD", path: "/gone" },
  { path: "/empty-string" },
  { method: "HEAD", path: "/empty-string" },
  { path: "/blob" },
  { method: "HEAD", path: "/blob" },
  { method: "HEAD", path: "/empty" },
  // Bun's ETag on a static route: 304 for a GET or HEAD of a 200 whose If-None-Match names it.
  { path: "/static", headers: { "if-none-match": "*" } },
  { method: "HEAD", path: "/static", headers: { "if-none-match": "*" } },
  { method: "POST", path: "/static", body: "x", headers: { "if-none-match": "*" } },
  { path: "/static", headers: { "if-none-match": '"other"' } },
  { path: "/json", headers: { "if-none-match": '"x", *' } },
  { path: "/tagged" },
  { path: "/tagged", headers: { "if-none-match": '"a", "mine"' } },
  { path: "/tagged", headers: { "if-none-match": 'W/"minez"' } },
  { path: "/created", headers: { "if-none-match": "*" } },
  { path: "/gone", headers: { "if-none-match": "*" } },
  { path: "/empty", headers: { "if-none-match": "*" } },
  // A route of bytes: no type on its 304 (nor on its HEAD; its GET's differs, docs/architecture.md).
  { path: "/bytes", headers: { "if-none-match": "*" } },
  { method: "HEAD", path: "/bytes", headers: { "if-none-match": "*" } },
  { method: "HEAD", path: "/bytes" },
  { path: "/redirect", headers: { "if-none-match": "*" } },
  { method: "DELETE", path: "/methods", headers: { "if-none-match": "*" } },
  { path: "/redirect" },
  // Handlers, sync and async.
  { path: "/sync" },
  { path: "/sync?a=1&b=2" },
  { method: "PUT", path: "/sync" },
  { method: "HEAD", path: "/sync", headTypeDiffers: true },
  { method: "POST", path: "/async", body: "payload" },
  // Per-method objects: HEAD takes GET's, an unlisted method goes to fetch.
  { path: "/methods" },
  { method: "POST", path: "/methods", body: "posted" },
  { method: "DELETE", path: "/methods" },
  { method: "DELETE", path: "/methods" },
  { method: "HEAD", path: "/methods", headTypeDiffers: true },
  { method: "PUT", path: "/methods" },
  { method: "PATCH", path: "/methods" },
  // Parameters, percent-decoded; exact before a parameter.
  { path: "/users/42" },
  { path: "/users/me" },
  { path: "/users/a%20b%2Fc" },
  { path: "/users/%E2%9C%93" },
  { path: "/users/%ZZ" },
  { path: "/users/42/posts/7?x=1" },
  { path: "/users/" },
  { path: "/users" },
  { path: "/users/42/" },
  // Wildcards, `false` and precedence.
  { path: "/api/anything/at/all" },
  { path: "/api/" },
  { path: "/api" },
  { path: "/api/skip" },
  { path: "/api/v1/x" },
  { path: "/api/v1/x/y" },
  { path: "/a/b/c" },
  { path: "/a/z/c" },
  { path: "/a/b/z" },
  // Trailing slashes, undefined routes, errors, fetch.
  { path: "/slash/" },
  { path: "/slash" },
  { path: "/nothing" },
  { path: "/throws" },
  { path: "/no/route" },
  { method: "POST", path: "/no/route", body: "x" },
];

/** What tests/fixtures/apps/bun_routes_only_app.ts is asked. */
export const ROUTES_ONLY_PROBES: Probe[] = [
  { path: "/" },
  { path: "/hello/world" },
  { path: "/only-get" },
  { method: "POST", path: "/only-get" },
  { path: "/missing" },
  { method: "HEAD", path: "/missing" },
];

/** What tests/fixtures/apps/bun_route_cookies_app.ts is asked (comparing Set-Cookie too). */
export const ROUTE_COOKIES_PROBES: Probe[] = [
  { path: "/c", headers: { cookie: "sid=abc" } },
  { path: "/c" },
  { path: "/many", headers: { cookie: "sid=abc; theme=dark" } },
  { path: "/read", headers: { cookie: "sid=abc; theme=dark" } },
  { path: "/redirect" },
  { path: "/later" },
  { path: "/throws" },
  { path: "/users/7" },
  { method: "HEAD", path: "/users/7" },
  { path: "/static", headers: { cookie: "sid=abc" } },
  { path: "/no/route", headers: { cookie: "sid=abc" } },
  { path: "/shared?u=1" },
  { path: "/shared?u=2" },
  { path: "/shared?u=3" },
];

/**
 * What tests/fixtures/apps/handler_bodies_app.ts is asked: GET and HEAD of each body, but a Blob's
 * GET (Deno.serve chunks it, the shared socket sends the length of its one chunk: not compared).
 */
export const HANDLER_BODIES_PROBES: Probe[] = [
  "/string",
  "/string-fields",
  "/empty-string",
  "/bytes",
  "/json",
  "/blob",
  "/params",
].flatMap((path) => [{ path }, { method: "HEAD", path }]).filter((p) =>
  p.path !== "/blob" || p.method
);
