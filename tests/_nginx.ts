// A real nginx (Debian nginx-light) for the tests that put it in front of appserve: its own
// config and temp folders under the test's directory, listening on a free loopback port.

import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./_helpers.ts";

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
 * Starts nginx with `block(port)` (an `http { … }` or `stream { … }` block) after the common
 * top-level settings. `modules` are loaded first (e.g. ngx_stream_module.so).
 */
export async function startNginx(
  dir: string,
  block: (port: number) => string,
  modules: string[] = [],
): Promise<Nginx> {
  const port = await freePort();
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((kind) => `${kind}_temp_path ${dir}/${kind};`).join(" ");
  const config = [
    ...modules.map((m) => `load_module /usr/lib/nginx/modules/${m};`),
    "daemon off;",
    "master_process off;",
    "worker_processes 1;",
    "user root;",
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/nginx-error.log warn;`,
    "events { worker_connections 256; }",
    // The temp paths only mean something inside http {}.
    block(port).replace(/^http \{/m, `http {\n  ${temp}`),
  ].join("\n");
  writeFileSync(join(dir, "nginx.conf"), config);
  const child: ChildProcess = spawn("nginx", ["-c", join(dir, "nginx.conf"), "-p", dir], {
    stdio: "inherit",
  });
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  return {
    port,
    async stop() {
      child.kill("SIGQUIT");
      await closed;
    },
  };
}
