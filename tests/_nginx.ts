// A real nginx (Debian nginx-light) for the tests that put it in front of appserve: its own
// config and temp folders under the test's directory, listening on a free loopback port. As in
// production (Debian's www-data), the master runs as root and the workers as an unprivileged
// user, nobody: a socket they may not reach shows up as nginx's 502, as it would for users.

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./_helpers.ts";

/** The user nginx's workers run as (Debian has no "nobody" group: nogroup). */
export const NGINX_WORKER_USER = "nobody nogroup";

export interface Nginx {
  /** The loopback port nginx listens on. */
  readonly port: number;
  /** Graceful stop (SIGQUIT); resolves once nginx has exited. */
  stop(): Promise<void>;
}

/** A `location /` that proxies to appserve's unix socket, passing the forwarding headers. */
export function proxyToUnix(socket: string, extra = ""): (port: number) => string {
  return (port) => `
http {
  access_log off;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://unix:${socket}:;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      ${extra}
    }
  }
}`;
}

/**
 * Writes `dir`/nginx.conf: the common top-level settings, then `block` (an `http { … }` or
 * `stream { … }` block). `modules` are loaded first (e.g. ngx_stream_module.so). `dir` is made
 * traversable by nginx's workers (a mkdtemp folder is 0700); appserve's socket there is
 * reachable only if appserve made it so.
 */
export function writeNginxConfig(
  dir: string,
  block: string,
  options: { modules?: string[] } = {},
): string {
  chmodSync(dir, 0o755);
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((kind) => `${kind}_temp_path ${dir}/${kind};`).join(" ");
  const config = [
    ...(options.modules ?? []).map((m) => `load_module /usr/lib/nginx/modules/${m};`),
    "daemon off;",
    "master_process on;",
    "worker_processes 1;",
    `user ${NGINX_WORKER_USER};`,
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/nginx-error.log warn;`,
    "events { worker_connections 256; }",
    // The temp paths only mean something inside http {}.
    block.replace(/^http \{/m, `http {\n  ${temp}`),
  ].join("\n");
  const path = join(dir, "nginx.conf");
  writeFileSync(path, config);
  return path;
}

/** `nginx -t` on a config file: whether it parses, and what nginx said. */
export function nginxTest(config: string, dir: string): { ok: boolean; output: string } {
  const result = spawnSync("nginx", ["-t", "-c", config, "-p", dir], { encoding: "utf8" });
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
}

/**
 * Starts nginx with `block(port)` (see writeNginxConfig); `modules` are loaded first. `port` is
 * the port `block` listens on, a free one unless given.
 */
export async function startNginx(
  dir: string,
  block: (port: number) => string,
  modules: string[] = [],
  givenPort?: number,
): Promise<Nginx> {
  const port = givenPort ?? await freePort();
  const config = writeNginxConfig(dir, block(port), { modules });
  const child: ChildProcess = spawn("nginx", ["-c", config, "-p", dir], { stdio: "inherit" });
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  return {
    port,
    async stop() {
      child.kill("SIGQUIT");
      await closed;
    },
  };
}
