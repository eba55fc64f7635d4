import assert from "node:assert/strict";
import { join } from "node:path";
import { loadApp, resolveModulePath } from "../src/app/load_app.ts";
import { AppLoadError } from "../src/errors.ts";
import { FIXTURES } from "./_helpers.ts";

const APPS = join(FIXTURES, "apps");
const info = {
  remoteAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: 1 },
  requestIP: () => null,
};

async function body(spec: string): Promise<string> {
  const handler = await loadApp(spec, APPS);
  return await (await handler(new Request("http://x/"), info)).text();
}

Deno.test("resolveModulePath() finds mod as mod.ts", () => {
  assert.equal(resolveModulePath("shapes", APPS), join(APPS, "shapes.ts"));
});

Deno.test("resolveModulePath(): a missing module says where it was looked for", () => {
  assert.throws(
    () => resolveModulePath("nope", APPS),
    new RegExp(`^AppLoadError: Cannot find module "nope" \\(looked in ${APPS}\\)$`),
  );
  // An absolute path was looked for nowhere else than where it says.
  assert.throws(
    () => resolveModulePath("/nonexist/app.ts", APPS),
    /^AppLoadError: Cannot find module "\/nonexist\/app\.ts" \(no such file\)$/,
  );
});

Deno.test("loadApp() accepts each app shape and spec form", async () => {
  assert.match(await body("pid_app"), /^hello pid/);
  assert.match(await body("shapes:app"), /^named app/);
  assert.match(await body("shapes:handler"), /^function handler/);
  assert.match(await body("shapes:api.v1"), /^api\.v1/);
  assert.match(await body("shapes.ts:createApp()"), /^factory/);
  assert.match(await body('shapes.ts:createApp({"greeting":"hi"})'), /^hi /);
  assert.match(await body("hono_app.ts:app"), /^hono pid/);
});

async function loadError(spec: string): Promise<string> {
  const error = await loadApp(spec, APPS).then(() => undefined, (e) => e);
  assert.ok(error instanceof AppLoadError, `expected AppLoadError, got ${error}`);
  // One line says it; only the user's stack frames may follow (an import error has some).
  const [, ...rest] = error.message.split("\n");
  for (const line of rest) {
    assert.match(line, /^ {4}at /, error.message);
    assert.ok(!line.includes(join(FIXTURES, "..", "..", "src")), error.message);
  }
  return error.message;
}

Deno.test("loadApp() lists the exports when the export is not found", async () => {
  assert.match(
    await loadError("shapes:nope"),
    /Failed to find "nope" in shapes \(exports: api, app, createApp, handler, notAnApp, wrongObject\)/,
  );
});

Deno.test("loadApp() says what shape it found", async () => {
  assert.match(await loadError("shapes:notAnApp"), /is a number; expected an object with a fetch/);
  assert.match(await loadError("shapes:wrongObject"), /object with keys handle; expected/);
});

Deno.test("loadApp() reports missing modules, import errors and missing defaults", async () => {
  assert.match(await loadError("missing_module"), /Cannot find module "missing_module"/);
  assert.match(
    await loadError("import_error"),
    /^Cannot import import_error: \/\S+\/import_error\.ts:2:\d+: Error: this module cannot be imported\n {4}at \/\S+\/import_error\.ts:2:\d+$/,
  );
  assert.match(
    await loadError("no_app"),
    /no default export and no "app" export \(exports: something\)/,
  );
});

Deno.test("loadApp() names the Bun.serve options an app exports, and only those", async () => {
  const bun = await loadApp("bun_serve_options_app", APPS);
  assert.equal(
    bun.ignored,
    "The app's Bun serve() options are ignored: port (use --bind), hostname (use --bind)",
  );
  // A framework's app object has its own `routes` and the like: not Bun.serve's options.
  assert.equal((await loadApp("hono_app.ts:app", APPS)).ignored, undefined);
  assert.equal((await loadApp("pid_app", APPS)).ignored, undefined);
});
