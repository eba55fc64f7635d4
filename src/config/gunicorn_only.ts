// gunicorn settings appserve does not take, with their gunicorn flags and the reason. A
// command line or config file carried over from gunicorn then fails with that reason
// instead of "unknown option", and docs/settings.md lists them from this same table. And what
// gunicorn would read on its own that appserve does not, said at start.

import { existsSync } from "node:fs";
import { join } from "node:path";

/** One gunicorn setting (or a family of them) appserve does not take. */
export interface GunicornOnly {
  /** gunicorn's setting names (TOML keys here). */
  readonly names: readonly string[];
  /** gunicorn's command-line flags for them. */
  readonly flags: readonly string[];
  /** "n/a": meaningless for a TypeScript server; "unsupported": meaningful, not built. */
  readonly kind: "n/a" | "unsupported";
  readonly reason: string;
}

export const GUNICORN_ONLY: readonly GunicornOnly[] = [
  {
    names: ["wsgi_app"],
    flags: [],
    kind: "n/a",
    reason: "named `app` here: apps are fetch handlers, not WSGI callables",
  },
  {
    names: ["pythonpath"],
    flags: ["--pythonpath"],
    kind: "n/a",
    reason: "module resolution follows Deno/Bun (deno.json, package.json, node_modules)",
  },
  {
    names: ["paste", "raw_paste_global_conf"],
    flags: ["--paste", "--paster", "--paste-global"],
    kind: "n/a",
    reason: "PasteDeploy is a Python packaging format",
  },
  {
    names: ["spew"],
    flags: ["--spew"],
    kind: "n/a",
    reason: "traces Python bytecode execution; use the runtime's inspector instead",
  },
  {
    names: ["tmp_upload_dir"],
    flags: [],
    kind: "n/a",
    reason: "unused even in gunicorn; bodies stream",
  },
  {
    names: ["asgi_loop", "asgi_lifespan", "asgi_disconnect_grace_period", "root_path"],
    flags: ["--asgi-loop", "--asgi-lifespan", "--asgi-disconnect-grace-period", "--root-path"],
    kind: "n/a",
    reason: "ASGI-only",
  },
  {
    names: ["http_parser"],
    flags: ["--http-parser"],
    kind: "n/a",
    reason: "chooses between gunicorn's Python and C parsers; appserve has one parser",
  },
  {
    names: ["ssl_version", "suppress_ragged_eofs", "do_handshake_on_connect", "ssl_context"],
    flags: ["--ssl-version", "--suppress-ragged-eofs", "--do-handshake-on-connect"],
    kind: "n/a",
    // Measured with openssl s_client on both runtimes, shared socket and --reuse-port
    // (tests/e2e/tls_test.ts): a gunicorn user learns the setting is not needed, and why.
    reason: "Python ssl module knobs and hook; not needed here: with --certfile appserve accepts " +
      "TLS 1.2 and 1.3 and refuses 1.0 and 1.1 (on both runtimes), handshakes as it accepts, and " +
      "takes --ciphers, --ca-certs and --cert-reqs as settings",
  },
  {
    names: ["casefold_http_method", "strip_header_spaces"],
    flags: ["--casefold-http-method", "--strip-header-spaces"],
    kind: "n/a",
    reason: "deprecated unsafe legacy parsing modes",
  },
  {
    names: ["logconfig", "logconfig_dict", "logconfig_json"],
    flags: ["--log-config", "--log-config-json"],
    kind: "n/a",
    reason: "Python logging configuration formats; the TOML `[logging]` table routes the logs",
  },
  {
    names: ["forwarder_headers"],
    flags: ["--forwarder-headers"],
    kind: "n/a",
    reason: "it lets trusted proxies set WSGI environ names such as SCRIPT_NAME past " +
      'header_map; a fetch app has no environ (header_map = "dangerous" passes `_` names on)',
  },
  {
    names: ["uwsgi_allow_ips"],
    flags: ["--uwsgi-allow-from"],
    kind: "n/a",
    reason: "appserve speaks HTTP only, not the uwsgi protocol",
  },
  {
    names: ["default_proc_name"],
    flags: [],
    kind: "n/a",
    reason: "gunicorn-internal; `proc_name` names the processes",
  },
  {
    names: ["sendfile"],
    flags: ["--no-sendfile"],
    kind: "n/a",
    reason: "appserve never uses sendfile(2): response bodies are fetch streams",
  },
  {
    names: [
      "dirty_apps",
      "dirty_workers",
      "dirty_timeout",
      "dirty_threads",
      "dirty_graceful_timeout",
      "on_dirty_starting",
      "dirty_post_fork",
      "dirty_worker_init",
      "dirty_worker_exit",
    ],
    flags: [
      "--dirty-app",
      "--dirty-workers",
      "--dirty-timeout",
      "--dirty-threads",
      "--dirty-graceful-timeout",
    ],
    kind: "n/a",
    reason: "gunicorn 25's separate Python job pool",
  },
  {
    names: ["control_socket_mode", "control_socket_disable"],
    flags: ["--control-socket-mode", "--no-control-socket"],
    kind: "n/a",
    reason: "appserve's control socket is always mode 0600 (owned by the user the master runs " +
      "as); `--control-socket off` turns it off",
  },
  {
    names: ["reload_engine"],
    flags: ["--reload-engine"],
    kind: "unsupported",
    reason: "--reload uses the runtime's file watcher, with no choice of engine",
  },
  {
    names: ["http_protocols"],
    flags: ["--http-protocols"],
    kind: "unsupported",
    reason: "appserve serves HTTP/1.0 and 1.1 only",
  },
  {
    names: [
      "permit_obsolete_folding",
      "permit_unconventional_http_method",
      "permit_unconventional_http_version",
    ],
    flags: [
      "--permit-obsolete-folding",
      "--permit-unconventional-http-method",
      "--permit-unconventional-http-version",
    ],
    kind: "unsupported",
    reason: "the parser is always as strict as gunicorn's default",
  },
];

const BY_FLAG = new Map(GUNICORN_ONLY.flatMap((g) => g.flags.map((f) => [f, g] as const)));
const BY_NAME = new Map(GUNICORN_ONLY.flatMap((g) => g.names.map((n) => [n, g] as const)));

/** Why `what` (a gunicorn flag or setting name) is not taken here, or undefined. */
export function gunicornOnly(what: string): string | undefined {
  const g = BY_FLAG.get(what) ?? BY_NAME.get(what);
  if (g === undefined) return undefined;
  return g.kind === "n/a"
    ? `a gunicorn setting that does not apply to appserve: ${g.reason}`
    : `a gunicorn setting appserve does not support: ${g.reason}`;
}

/**
 * Warnings for what gunicorn would read without being asked and appserve does not:
 * $GUNICORN_CMD_ARGS (without an $APPSERVE_CMD_ARGS) and ./gunicorn.conf.py (without a config
 * file of appserve's). Silence would leave a migrated deployment on defaults unawares.
 */
export function gunicornLeftovers(
  env: Record<string, string | undefined>,
  cwd: string,
  configFile: string,
): string[] {
  const lines: string[] = [];
  const args = env.GUNICORN_CMD_ARGS?.trim();
  if (args && env.APPSERVE_CMD_ARGS === undefined) {
    lines.push(
      `GUNICORN_CMD_ARGS is set but not read (appserve reads APPSERVE_CMD_ARGS): "${args}" ` +
        "does not apply",
    );
  }
  if (!configFile && !existsSync(join(cwd, "appserve.toml"))) {
    if (existsSync(join(cwd, "gunicorn.conf.py"))) {
      lines.push(
        "./gunicorn.conf.py is not read (appserve reads TOML: appserve.toml or -c FILE): give " +
          "its settings as options, and `--print-config > appserve.toml` writes them as TOML",
      );
    }
  }
  return lines;
}
