// An app in Bun.serve's shape routes with `routes` as under Bun: the same app module is served by
// the real Bun.serve and by appserve (each worker kind, the shared socket and --reuse-port) and
// must answer the same (tests/_bun_routes_diff.ts).

import assert from "node:assert/strict";
import { join } from "node:path";
import { e2e, FIXTURES, freePort, get, start, TARGETS } from "../_helpers.ts";
import {
  differences,
  HANDLER_BODIES_PROBES,
  type Probe,
  ROUTE_COOKIES_PROBES,
  ROUTES_APP_PROBES,
  ROUTES_ONLY_PROBES,
  serveWithBun,
  serveWithDeno,
} from "../_bun_routes_diff.ts";

const SETUPS: [string, string[]][] = [
  ["-k async", ["-k", "async"]],
  ["-k gthread", ["-k", "gthread", "--threads", "2"]],
  ["--reuse-port", ["--reuse-port"]],
];

const APPS: [string, Probe[]][] = [
  ["bun_routes_app.ts", ROUTES_APP_PROBES],
  ["bun_routes_only_app.ts", ROUTES_ONLY_PROBES],
];

for (const [name, args] of SETUPS) {
  e2e(`${name}: an app's Bun routes answer as Bun.serve answers them`, async (t) => {
    for (const [file, probes] of APPS) {
      const app = join(FIXTURES, "apps", file);
      // Listeners of their own must agree on a port beforehand.
      const port = args.includes("--reuse-port") ? await freePort() : 0;
      const server = start(t, ["-w", "1", ...args, "-b", `127.0.0.1:${port}`, app]);
      const bun = await serveWithBun(app);
      try {
        const url = await server.ready(1);
        assert.deepEqual(await differences(bun.url, url, probes), [], file);
      } finally {
        bun.stop();
      }
      await server.stop();
      // routes are served: no warning names them.
      assert.doesNotMatch(server.stderr, /routes \(/, server.stderr);
    }
  });
}

// `req.cookies` is Bun's (a Bun.CookieMap): only Bun workers give it, as Bun.serve does.
const BUN_WORKERS = TARGETS.filter((t) => t.workers === "bun");

for (const [name, args] of SETUPS) {
  for (const target of BUN_WORKERS) {
    Deno.test({
      name: `[${target.name}] ${name}: a Bun route's req.cookies reads and sets as under Bun.serve`,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        const app = join(FIXTURES, "apps", "bun_route_cookies_app.ts");
        const port = args.includes("--reuse-port") ? await freePort() : 0;
        const server = start(target, ["-w", "1", ...args, "-b", `127.0.0.1:${port}`, app]);
        const bun = await serveWithBun(app);
        try {
          const url = await server.ready(1);
          const found = await differences(bun.url, url, ROUTE_COOKIES_PROBES, ["set-cookie"]);
          assert.deepEqual(found, []);
        } finally {
          bun.stop();
          await server.stop();
        }
        assert.doesNotMatch(server.stderr, /TypeError/, server.stderr);
      },
    });
  }
}

// `export default Bun.serve({ routes, fetch })`: appserve serves the Server's fetch(), which skips
// its routes; the warning says so and how to export them.
for (const target of BUN_WORKERS) {
  Deno.test({
    name:
      `[${target.name}] an exported Bun.serve() Server with routes: the warning says they are not served`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const app = join(FIXTURES, "apps", "own_server_routes_app.ts");
      const env = { OWN_PORT: String(await freePort()) };
      const server = start(target, ["-w", "1", "-b", "127.0.0.1:0", app], { env });
      try {
        const url = await server.ready(1);
        assert.equal((await get(url + "/r")).body, "fetch\n");
        await server.waitFor(
          /WARNING\] The app called Bun\.serve\(\) itself while loading .*; its routes are not served here .*export default \{ routes, fetch \}/,
        );
      } finally {
        await server.stop();
      }
    },
  });
}

// Deno workers answer a handler's bodies as Deno.serve does: on a HEAD the type Deno's Response
// has in its fields (a string's), where Bun.serve sends none.
const DENO_WORKERS = TARGETS.filter((t) => t.workers === "deno");

for (const [name, args] of SETUPS) {
  for (const target of DENO_WORKERS) {
    Deno.test({
      name: `[${target.name}] ${name}: a handler's bodies, HEAD included, answer as Deno.serve's`,
      sanitizeOps: false,
      sanitizeResources: false,
      fn: async () => {
        const app = join(FIXTURES, "apps", "handler_bodies_app.ts");
        const port = args.includes("--reuse-port") ? await freePort() : 0;
        const server = start(target, ["-w", "1", ...args, "-b", `127.0.0.1:${port}`, app]);
        const deno = await serveWithDeno(app);
        try {
          const url = await server.ready(1);
          assert.deepEqual(await differences(deno.url, url, HANDLER_BODIES_PROBES), []);
        } finally {
          deno.stop();
          await server.stop();
        }
      },
    });
  }
}
