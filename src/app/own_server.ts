// A module written for `deno run` or `bun run` starts its own server when imported (Deno.serve,
// Bun.serve, Elysia's listen()). Under appserve that server would run in every worker, on a port
// of its own, outside the shared socket, the access log and the graceful stop: the calls made
// while the app loads are noted, so that the worker says so, and a missing export says why.

import { userCallSite } from "./user_error.ts";

/** Where the app started its own server: `Deno.serve()` and its call site in the user's code. */
export interface OwnServer {
  api: string;
  at: string;
  /** Whether its options had `routes` (or `static`), which the Server it returns cannot hand on. */
  routes: boolean;
}

/**
 * Notes every call the user's code makes to the runtime's own server function until the
 * returned function is called, which puts the original back and gives the calls. The calls go
 * through: a side server an app starts on purpose keeps working.
 */
export function noteOwnServers(
  native: { owner: { serve: unknown }; label: string },
): () => OwnServer[] {
  const { owner, label } = native;
  const original = owner.serve as (...args: unknown[]) => unknown;
  const calls: OwnServer[] = [];
  owner.serve = function (...args: unknown[]) {
    const at = userCallSite(new Error().stack ?? "");
    const options = args[0] as { routes?: unknown; static?: unknown } | null;
    const routes = typeof options === "object" && options !== null &&
      (typeof options.routes === "object" || typeof options.static === "object");
    if (at !== undefined) calls.push({ api: `${label}()`, at, routes });
    return original.apply(owner, args);
  };
  return () => {
    owner.serve = original;
    return calls;
  };
}

/** The warning for an app that loaded and started a server of its own. */
export function ownServerWarning(call: OwnServer): string {
  return `The app called ${call.api} itself while loading (${call.at}): that server runs in ` +
    "every worker, on a port of its own, outside appserve (no shared socket, access log or " +
    "graceful stop); export its handler instead, e.g. export default { fetch }" +
    // An exported Bun Server serves through its fetch(), which Bun routes to `fetch` only.
    (call.routes
      ? "; its routes are not served here (only a Server's fetch is, as Bun's server.fetch() " +
        "calls it): export the options, e.g. export default { routes, fetch }"
      : "");
}

/** What to add to a load error when the module started a server of its own instead. */
export function ownServerHint(call: OwnServer): string {
  return ` (the module calls ${call.api} itself at ${call.at}: appserve serves the app, so ` +
    "export its handler instead, e.g. export default { fetch })";
}
