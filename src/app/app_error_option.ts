// The `error` handler of an app in Bun.serve's shape, for what the handler loadApp() made cannot
// see: a response the app returned whose body cannot be sent (a missing file), which Bun.serve
// hands to `error` as it hands it what `fetch` throws. Found again in the module loadApp()
// imported (cached: nothing of it runs twice), by the same APP_MODULE; a factory's app is not
// made twice for it, so its `error` is not found (such a body is then answered 500, logged).

import { pathToFileURL } from "node:url";
import { parseAppSpec } from "./app_spec.ts";
import { resolveModulePath } from "./load_app.ts";

/** Answers an error as the app's `error` would; throws (rejects with) the error if it cannot. */
export type ErrorAnswer = (error: unknown) => Response | Promise<Response>;

// Only an object literal is Bun.serve's shape, as load_app.ts takes it.
function isOptionsObject(app: object): boolean {
  const proto = Object.getPrototypeOf(app);
  return proto === Object.prototype || proto === null;
}

/** The app's own `error`, with load_app.ts's handling of its failures; undefined without one. */
export async function appErrorOption(
  appModule: string,
  cwd: string,
): Promise<ErrorAnswer | undefined> {
  const spec = parseAppSpec(appModule);
  if (spec.args !== undefined) return undefined;
  const mod = await import(pathToFileURL(resolveModulePath(spec.path, cwd)).href);
  let app: unknown = spec.names.length > 0 ? mod : mod.default ?? mod.app;
  for (const name of spec.names) app = (app as Record<string, unknown> | undefined)?.[name];
  if (app === null || typeof app !== "object" || !isOptionsObject(app)) return undefined;
  const onError = (app as { error?: unknown }).error;
  if (typeof onError !== "function") return undefined;
  // As Bun.serve: its Response answers; should it throw or give none, the error goes on.
  return (error) => {
    let result: unknown;
    try {
      result = onError.call(app, error);
    } catch {
      throw error;
    }
    if (result instanceof Response) return result;
    if (!(result instanceof Promise)) throw error;
    return result.then((r) => {
      if (r instanceof Response) return r;
      throw error;
    }, () => {
      throw error;
    });
  };
}
