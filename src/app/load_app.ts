// Imports the user's module inside a worker and turns what it exports into a
// fetch handler, with errors that say what was found instead.

import { accessSync, constants, existsSync, statSync } from "node:fs";
import process from "node:process";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { AppLoadError } from "../errors.ts";
import type {
  AppHandler,
  FetchHandler,
  ListenAddr,
  ServeInfo,
  WebSocketHandlers,
} from "../fetch_handler.ts";
import type { Runtime } from "../runtime/types.ts";
import { type AppSpec, AppSpecError, parseAppSpec } from "./app_spec.ts";
import { setAppArgv } from "./app_argv.ts";
import {
  type CookieMaker,
  routesHandler,
  servedRouteCount,
  type TypeOfBody,
  withRouteCookies,
} from "./bun_routes.ts";
import { fileBodiesChecked, type FileFailure } from "./file_body_check.ts";
import { nonModuleReason } from "./non_module.ts";
import { noteOwnServers, type OwnServer, ownServerHint, ownServerWarning } from "./own_server.ts";
import { hideOwnFrames } from "./own_frames.ts";
import { describeUserError, userErrorText } from "./user_error.ts";

const EXTENSIONS = [".ts", ".js", ".tsx", ".mjs", ".jsx", ".mts"];

/**
 * Finds the module file for PATH: as given, with an extension added, or `a.b` as `a/b`; a file
 * that cannot be a module (an executable, a binary file: non_module.ts) is one load error.
 */
export function resolveModulePath(path: string, cwd: string): string {
  const bases = [path];
  if (
    !path.includes("/") && /^[\w-]+(\.[\w-]+)+$/.test(path) &&
    !EXTENSIONS.some((e) => path.endsWith(e))
  ) {
    bases.push(path.replaceAll(".", "/"));
  }
  for (const base of bases) {
    const full = isAbsolute(base) ? base : resolve(cwd, base);
    for (const candidate of [full, ...EXTENSIONS.map((e) => full + e)]) {
      if (existsSync(candidate) && statSync(candidate).isFile()) {
        const file = readable(candidate);
        // Named as given, with the extension found added.
        const given = base + candidate.slice(full.length);
        const reason = nonModuleReason(file, given, EXTENSIONS);
        if (reason !== null) throw new AppLoadError(reason);
        return file;
      }
    }
  }
  // A relative PATH was looked for from `cwd`; an absolute one is its own place.
  const where = isAbsolute(path) ? "no such file" : `looked in ${cwd}`;
  throw new AppLoadError(`Cannot find module "${path}" (${where})${indexHint(path, cwd)}`);
}

// `bun run DIR` runs DIR's index file; appserve, as Deno, imports files only: the one to name.
function indexHint(path: string, cwd: string): string {
  const full = resolve(cwd, path);
  if (!existsSync(full) || !statSync(full).isDirectory()) return "";
  const index = EXTENSIONS.map((e) => join(path, `index${e}`))
    .find((file) => existsSync(resolve(cwd, file)));
  return index === undefined ? "" : `: a directory; name its index file, ${index}`;
}

// Found but not readable by this process (a worker under --user): said as such in one line, not
// as the runtime's own words (Bun: "SyntaxError: EACCES reading"; Deno: two lines of its core).
function readable(file: string): string {
  try {
    accessSync(file, constants.R_OK);
  } catch {
    throw new AppLoadError(`Cannot read ${file}: permission denied (uid ${process.getuid?.()})`);
  }
  return file;
}

function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") {
    return `an object with keys ${Object.keys(value as object).join(", ") || "(none)"}`;
  }
  return `${/^[aeiou]/.test(typeof value) ? "an" : "a"} ${typeof value}`;
}

// Only an object literal is Bun.serve's shape: a framework's app (Hono's has `routes`) is not.
function isOptionsObject(app: object): boolean {
  const proto = Object.getPrototypeOf(app);
  return proto === Object.prototype || proto === null;
}

type ErrorHandler = (error: unknown) => unknown;

/**
 * `handler` answering what it throws or rejects with `onError`'s Response, as `Bun.serve` calls
 * its `error` option. Should `onError` throw or return no Response, the app's own error goes on
 * to the worker's usual handling (logged with its stack, a 500).
 */
function withErrorHandler(
  handler: FetchHandler,
  onError: ErrorHandler,
  self: object,
): FetchHandler {
  const answer = (error: unknown): Response | Promise<Response> => {
    let result: unknown;
    try {
      result = onError.call(self, error);
    } catch {
      throw error;
    }
    if (result instanceof Response) return result;
    if (!(result instanceof Promise)) throw error;
    return result.then(
      (r) => {
        if (r instanceof Response) return r;
        throw error;
      },
      () => {
        throw error;
      },
    );
  };
  // Not async: a Response returned synchronously keeps the servers' fast paths.
  return (request, info) => {
    try {
      const result = handler(request, info);
      return result instanceof Response ? result : Promise.resolve(result).catch(answer);
    } catch (error) {
      return answer(error);
    }
  };
}

// What `Bun.serve` takes beside `fetch` and `websocket`, which a Bun app's default export often
// carries: appserve reads none of it, so a worker says so and names the setting that does it.
const SERVE_OPTIONS: Record<string, string> = {
  port: "use --bind",
  hostname: "use --bind",
  unix: "use --bind unix:PATH",
  tls: "use --certfile and --keyfile",
  reusePort: "use --reuse-port",
  maxRequestBodySize: "use --limit-request-body",
  idleTimeout: "use --keep-alive",
  development: "no effect",
};

/**
 * The warning for `Bun.serve` options in an app's default export, or null when it has none:
 * `{ port: 3000, fetch }` must not leave someone wondering why nothing answers on port 3000.
 */
export function ignoredServeOptions(app: object): string | null {
  if (!isOptionsObject(app)) return null;
  const found = Object.keys(app).filter((key) => Object.hasOwn(SERVE_OPTIONS, key));
  if (found.length === 0) return null;
  const each = found.map((key) => `${key} (${SERVE_OPTIONS[key]})`).join(", ");
  const are = found.length === 1 ? "option is" : "options are";
  return `The app's Bun serve() ${are} ignored: ${each}`;
}

/**
 * The `routes` of an app in Bun.serve's shape, or null: `static`, their older name, when it has no
 * `routes` (beside them Bun ignores it).
 */
function routesOf(app: object): Record<string, unknown> | null {
  if (!isOptionsObject(app)) return null;
  const { routes, static: old } = app as { routes?: unknown; static?: unknown };
  const name = routes !== undefined ? "routes" : "static";
  const value = routes ?? old;
  if (value === undefined) return null;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new AppLoadError(`The app's ${name} is ${kindOf(value)}; expected an object of paths`);
  }
  return value as Record<string, unknown>;
}

/**
 * A handler's result, unless it is an app rather than a Response (`export default () => router`):
 * awaited, one with a `then` (itty-router's AutoRouter) would leave the request waiting forever.
 */
function noApp(result: ReturnType<FetchHandler>): ReturnType<FetchHandler> {
  if (result instanceof Response || result instanceof Promise) return result;
  const value = result as unknown;
  if (
    value !== null && typeof value === "object" &&
    typeof (value as { fetch?: unknown }).fetch === "function"
  ) {
    throw new TypeError(
      "app handler returned an app (an object with a fetch method) instead of a Response; " +
        "to call a factory once, name it in APP_MODULE: module:factory()",
    );
  }
  return result;
}

/**
 * Turns an app value into a handler, or explains what shape was found. An object's `websocket`
 * (Bun's shape: `{ open, message, close, drain, ping, pong }`) comes along on the handler, and so
 * does the warning for its `Bun.serve` options (ignoredServeOptions); its `routes` answer as under
 * `Bun.serve` (bun_routes.ts), before `fetch`, which may then be left out; its `error`, as
 * `Bun.serve`'s, answers what `fetch` or a route throws. COOKIES (Runtime.routeCookies) gives a
 * route's handler `req.cookies`, as Bun does; IMPLIED_TYPE (Runtime.impliedType) the type of a
 * static route's string body, which Bun.serve sends in its head.
 */
export function toHandler(
  app: unknown,
  what: string,
  cookies: CookieMaker | null = null,
  fileFailure: FileFailure | null = null,
  impliedType: TypeOfBody | null = null,
): AppHandler {
  const checked = (h: FetchHandler) => fileFailure ? fileBodiesChecked(h, fileFailure) : h;
  // Called through a function of appserve's own: the user's one, returned from an async
  // function, would be taken for a promise if it had a `then` (and wait for it forever).
  if (typeof app === "function") {
    const handler = app as FetchHandler;
    return checked((request, info) => noApp(handler(request, info)));
  }
  if (app !== null && typeof app === "object") {
    const target = app as { fetch?: unknown; websocket?: unknown; error?: unknown };
    const hasFetch = typeof target.fetch === "function";
    const routes = routesOf(app);
    if (hasFetch || (routes !== null && servedRouteCount(routes) > 0)) {
      const fetch = hasFetch
        ? (request: Request, info: ServeInfo) =>
          noApp((target as { fetch: FetchHandler }).fetch(request, info))
        : null;
      // A file body that cannot be sent is answered as a throw, by `error` too, as under Bun.
      const call = checked(
        routes === null ? fetch! : routesHandler(routes, fetch, cookies, impliedType),
      );
      const onError = isOptionsObject(app) ? target.error : undefined;
      const answered = typeof onError === "function"
        ? withErrorHandler(call, onError as ErrorHandler, app)
        : call;
      const handler: AppHandler = routes !== null && cookies !== null
        ? withRouteCookies(answered)
        : answered;
      const ws = target.websocket;
      if (ws !== null && typeof ws === "object") handler.websocket = ws as WebSocketHandlers;
      const ignored = ignoredServeOptions(app);
      if (ignored !== null) handler.ignored = ignored;
      const { onListen } = app as { onListen?: unknown };
      if (typeof onListen === "function") {
        handler.onListen = (addr) => (onListen as (addr: ListenAddr) => unknown).call(app, addr);
      }
      return handler;
    }
  }
  throw new AppLoadError(
    `${what} is ${
      kindOf(app)
    }; expected an object with a fetch(request, info) method or a function (request, info) => Response`,
  );
}

function exportsList(mod: Record<string, unknown>): string {
  const names = Object.keys(mod);
  return names.length ? names.join(", ") : "none";
}

/** How loadApp imports the module. */
export interface LoadAppOptions {
  /**
   * The runtime's part: readying its loader for the app's project before the import, and
   * explaining an error it knows better (Bun: the app needs Deno). None: a plain import.
   */
  runtime?: Pick<
    Runtime,
    | "prepareImports"
    | "ownFramesHook"
    | "printedError"
    | "explainAppError"
    | "nativeServe"
    | "routeCookies"
    | "fileFailure"
    | "impliedType"
  >;
}

/** The user's error as the report's text: the runtime's one line if it has one. */
function explained(error: unknown, options: LoadAppOptions): string {
  return options.runtime?.explainAppError(error) ?? userErrorText(describeUserError(error));
}

/** Already an app: a factory's result that is one is used as it is, even with a `then`. */
function isApp(value: unknown): boolean {
  if (typeof value === "function") return true;
  if (value === null || typeof value !== "object") return false;
  const { fetch, routes, static: old } = value as Record<string, unknown>;
  return typeof fetch === "function" || (isOptionsObject(value) && (routes ?? old) !== undefined);
}

/**
 * The app a module exports, in a box: an async function's result that has a `then` is taken for
 * a promise and waited for, and a router answering every property (itty-router's AutoRouter, a
 * Proxy) has one that never settles.
 */
async function pick(
  mod: Record<string, unknown>,
  spec: AppSpec,
  file: string,
  options: LoadAppOptions,
): Promise<{ app: unknown }> {
  if (spec.names.length === 0) {
    if (mod.default !== undefined) return { app: mod.default };
    if (mod.app !== undefined) return { app: mod.app };
    throw new AppLoadError(
      `${file} has no default export and no "app" export (exports: ${exportsList(mod)})`,
    );
  }
  let value: unknown = mod;
  let path = "";
  for (const name of spec.names) {
    const holder = value as Record<string, unknown>;
    if (
      holder === null || (typeof holder !== "object" && typeof holder !== "function") ||
      !(name in holder)
    ) {
      const available = path === "" ? exportsList(mod) : Object.keys(holder ?? {}).join(", ");
      throw new AppLoadError(
        `Failed to find "${path}${name}" in ${file} (${
          path === "" ? "exports" : "keys"
        }: ${available})`,
      );
    }
    value = holder[name];
    path += `${name}.`;
  }
  if (spec.args === undefined) return { app: value };
  if (typeof value !== "function") {
    throw new AppLoadError(
      `"${spec.names.join(".")}" in ${file} is ${kindOf(value)}, not a function to call`,
    );
  }
  try {
    const made = (value as (...a: unknown[]) => unknown)(...spec.args);
    // An async factory's promise is waited for; an app it returns as it is is not.
    return { app: isApp(made) ? made : await made };
  } catch (error) {
    throw new AppLoadError(
      `Factory ${spec.expr} in ${file} threw: ${explained(error, options)}`,
    );
  }
}

/**
 * Imports APP_MODULE relative to `cwd` and returns its fetch handler; the module sees the
 * process.argv `bun run`/`deno run` would give it (`setAppArgv`).
 * Every failure is an AppLoadError with a one-line message (exit code 4).
 */
export async function loadApp(
  appModule: string,
  cwd: string,
  options: LoadAppOptions = {},
): Promise<AppHandler> {
  let spec: AppSpec;
  try {
    spec = parseAppSpec(appModule);
  } catch (error) {
    if (error instanceof AppSpecError) throw new AppLoadError(error.message);
    throw error;
  }
  const file = resolveModulePath(spec.path, cwd);
  const stop = options.runtime && noteOwnServers(options.runtime.nativeServe());
  let handler: AppHandler;
  try {
    handler = await importApp(spec, file, options);
  } catch (error) {
    const call = stop?.()[0];
    if (call && error instanceof AppLoadError) throw new AppLoadError(hinted(error.message, call));
    throw error;
  }
  const call = stop?.()[0];
  if (call) handler.ownServer = ownServerWarning(call);
  return handler;
}

async function importApp(
  spec: AppSpec,
  file: string,
  options: LoadAppOptions,
): Promise<AppHandler> {
  let mod: Record<string, unknown>;
  try {
    options.runtime?.prepareImports(file);
    // Before the app's modules run: a hook they set is then given the sites left.
    if (options.runtime?.ownFramesHook) hideOwnFrames(options.runtime.printedError);
    setAppArgv(file);
    mod = await import(pathToFileURL(file).href);
  } catch (error) {
    // Where it failed, in the user's files: the first line says it, the stack follows.
    throw new AppLoadError(`Cannot import ${spec.path}: ${explained(error, options)}`);
  }
  const { app } = await pick(mod, spec, spec.path, options);
  return toHandler(
    app,
    spec.expr ? `"${spec.expr}" in ${spec.path}` : `The app exported by ${spec.path}`,
    options.runtime?.routeCookies ?? null,
    options.runtime?.fileFailure ?? null,
    options.runtime?.impliedType ?? null,
  );
}

/** A load error's first line, then what the module's own server call explains, then the rest. */
function hinted(message: string, call: OwnServer): string {
  const [first, ...rest] = message.split("\n");
  return [first + ownServerHint(call), ...rest].join("\n");
}
