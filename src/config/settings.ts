// THE settings table: every setting appserve knows is declared here once. CLI
// flags, TOML keys, APPSERVE_CMD_ARGS, --help, --print-config, validation and
// docs/settings.md are all derived from this array.

import { parseBind } from "../net/bind.ts";
import { DEFAULT_ACCESS_LOG_FORMAT, LOG_LEVELS, loggingTable } from "./logging_table.ts";
import { DEFAULT_SYSLOG_ADDR, SYSLOG_FACILITY_NAMES, syslogAddr } from "./syslog_addr.ts";
import {
  bool,
  checked,
  choice,
  dogstatsdTags,
  envValue,
  fileMode,
  int,
  ipList,
  keyValue,
  list,
  octalMode,
  seconds,
  shellWords,
  statsdHost,
  string,
  stringTable,
} from "./validators.ts";
import type { IntType, ValueType } from "./validators.ts";

type Env = Record<string, string | undefined>;

export const SECTIONS = [
  "Config File",
  "Server Socket",
  "Worker Processes",
  "Security",
  "Server Mechanics",
  "Debugging",
  "Logging",
  "Process Naming",
  "SSL",
  "Server Hooks",
] as const;
export type Section = typeof SECTIONS[number];

/** One setting. `name` is the TOML key and gunicorn's name. */
export interface SettingSpec<T = unknown> {
  readonly name: string;
  readonly section: Section;
  /** Command-line spellings; none means TOML-only (as gunicorn's file-only settings). */
  readonly flags?: readonly string[];
  readonly metavar?: string;
  readonly type: ValueType<T>;
  /** The default; a function is evaluated per resolution (it may read the environment). */
  readonly default: T | ((env: Record<string, string | undefined>) => T);
  /** How the default reads in --help and docs when it is computed. */
  readonly defaultDoc?: string;
  readonly doc: string;
  /** Relative paths in a config file resolve against the file's folder. */
  readonly path?: boolean;
  /** Set when the behaviour is not built yet: using it is a "not supported yet" error. */
  readonly pending?: string;
  /** What the flag means given alone (gunicorn's `nargs="?"`, e.g. `--proxy-protocol`). */
  readonly bareValue?: string;
}

export const WORKER_CLASSES = ["async", "sync", "gthread", "gevent", "eventlet"] as const;
export const WORKER_RUNTIMES = ["auto", "deno", "bun"] as const;
export const LOG_FORMATS = ["text", "json"] as const;

const bindAddress = checked("an address such as 127.0.0.1:8000, unix:PATH or fd://N", (s) => {
  try {
    parseBind(s);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
});

// `workers`, from any source, $WEB_CONCURRENCY included.
const workerCount = int(1, 1024);

/** Every setting, in help order. */
export const SETTINGS = [
  // Config File
  {
    name: "config",
    section: "Config File",
    flags: ["-c", "--config"],
    metavar: "PATH",
    type: string("a file path"),
    default: "",
    defaultDoc: "./appserve.toml if it exists",
    doc: "TOML configuration file. `file:PATH` is accepted as in gunicorn. Without it, " +
      "`./appserve.toml` is read when present.",
  },
  {
    name: "app",
    section: "Config File",
    type: string("PATH[:EXPR]"),
    default: "",
    doc: "The application module (`PATH[:EXPR]`) used when none is given on the command line " +
      "(gunicorn's `wsgi_app`).",
    path: true,
  },
  // Server Socket
  {
    name: "bind",
    section: "Server Socket",
    flags: ["-b", "--bind"],
    metavar: "ADDRESS",
    type: list(bindAddress),
    default: (env: Env) => {
      const port = envValue(env, "PORT", int(0, 65535));
      return [port === undefined ? "127.0.0.1:8000" : `0.0.0.0:${port}`];
    },
    defaultDoc: '["127.0.0.1:8000"], or ["0.0.0.0:$PORT"] when PORT is set',
    doc: "Address to listen on: `HOST`, `HOST:PORT`, `[IPV6]:PORT`, `:PORT`, `unix:PATH` or " +
      "`fd://N`. Repeat to listen on several. The master creates each socket and every worker " +
      "accepts on it.",
  },
  {
    name: "backlog",
    section: "Server Socket",
    flags: ["--backlog"],
    metavar: "INT",
    type: int(1, 65535),
    default: 2048,
    doc: "Maximum number of pending connections (the `listen()` backlog).",
  },
  {
    name: "socket_mode",
    section: "Server Socket",
    flags: ["--socket-mode"],
    metavar: "MODE",
    type: octalMode,
    default: null,
    defaultDoc: "unset: 0777 & ~umask",
    doc: "Permission bits of the unix sockets appserve creates, in octal as chmod reads them " +
      '(e.g. 660; in TOML a string, "660"). The socket is created with exactly these bits ' +
      "(no moment with wider ones); over umask. Unset, the socket gets 0777 & ~umask, which " +
      "with the default umask 0 lets every local user (nginx's worker user among them) connect.",
  },
  {
    name: "socket_group",
    section: "Server Socket",
    flags: ["--socket-group"],
    metavar: "GROUP",
    type: string("a group name or gid"),
    default: "",
    defaultDoc: "unset: the group appserve runs as",
    doc: "Group (name or gid) given to the unix sockets appserve creates, such as nginx's " +
      "www-data: with --socket-mode 660, only that group's members and the socket's owner may " +
      "connect. A group that does not exist is a start-up error; one appserve may not hand " +
      "files to (neither root nor a member) is one too.",
  },
  // Worker Processes
  {
    name: "workers",
    section: "Worker Processes",
    flags: ["-w", "--workers"],
    metavar: "INT",
    type: workerCount,
    // As gunicorn, which reads it with int(): a value that is not a worker count is an error.
    default: (env: Env) => envValue(env, "WEB_CONCURRENCY", workerCount) ?? 1,
    defaultDoc: "$WEB_CONCURRENCY, else 1",
    doc: "Number of worker processes.",
  },
  {
    name: "worker_class",
    section: "Worker Processes",
    flags: ["-k", "--worker-class"],
    metavar: "STRING",
    type: choice(WORKER_CLASSES),
    default: "async",
    doc: "How a worker runs requests: `async` (the runtime's event loop, up to " +
      "worker_connections requests at once) or `sync` (one request at a time per worker, for " +
      "apps that are not safe to run concurrently) or `gthread` (`threads` Web Worker threads " +
      "per worker, each with its own app instance and serving its own connections, for " +
      "CPU-bound handlers; `timeout` then applies per request: a 504, and the thread is " +
      "replaced (Bun) or the worker is (Deno)). `gevent` and `eventlet` are accepted as " +
      "aliases of `async` so gunicorn configurations keep working.",
  },
  {
    name: "runtime",
    section: "Worker Processes",
    flags: ["--runtime"],
    metavar: "STRING",
    type: choice(WORKER_RUNTIMES),
    default: "auto",
    doc: "The runtime of the worker processes: `deno` (`deno run` of appserve's worker bundle, " +
      "with the app's own `deno.json`/`deno.jsonc` or `package.json`), `bun` (the compiled " +
      "binary re-executing itself; only there or under `bun`) or `auto`: Deno when the app's " +
      "project (the folders from the app module's up) has a `deno.json`/`deno.jsonc` and a " +
      "Deno executable is found, else Bun when appserve itself runs on Bun, else Deno. The " +
      "master logs its choice: `Using runtime: deno 2.9.6 (/usr/local/bin/deno)`.",
  },
  {
    name: "deno",
    section: "Worker Processes",
    flags: ["--deno"],
    metavar: "PATH",
    type: string("the path of a Deno executable"),
    default: "",
    defaultDoc: "$DENO, else deno on $PATH, else the Deno running appserve",
    doc: "The Deno executable that runs Deno workers (Deno 2.8.0 or newer), as a shell finds a " +
      "command: a bare name on $PATH, a relative path from the directory appserve was started in.",
    path: true,
  },
  {
    name: "deno_flags",
    section: "Worker Processes",
    flags: ["--deno-flags"],
    metavar: "FLAGS",
    type: shellWords,
    default: "-A",
    doc: "Flags for `deno run` of each Deno worker, split as a shell splits words: `-A` (which " +
      "workers need: Deno lets them read /proc/self/limits only with all permissions; flags " +
      "without it, or with a `--deny-*`, are refused at start) and extras such as " +
      "`--unstable-kv` or `--v8-flags=--max-old-space-size=512`. appserve adds `--config` " +
      "(or `--no-config`), `--import-map` and `--unstable-net` itself (a `--config`/`-c`, " +
      "`--no-config` or `--import-map` here is honoured in place of its own; `--check` checks " +
      "nothing, the app being imported at run time: run `deno check` before deploying), and before these flags " +
      "`--v8-flags=--max-semi-space-size=4` (a smaller young generation; a `--v8-flags` here wins).",
  },
  {
    name: "threads",
    section: "Worker Processes",
    flags: ["--threads"],
    metavar: "INT",
    type: int(1, 1024),
    default: 1,
    doc: "Worker threads per process for the gthread worker class: each thread (a Web Worker) " +
      "loads its own instance of the app and runs one request at a time. Above 1 with the " +
      "default or the `sync` worker class, selects `gthread`.",
  },
  {
    name: "worker_connections",
    section: "Worker Processes",
    flags: ["--worker-connections"],
    metavar: "INT",
    type: int(1),
    default: 1000,
    doc: "Maximum number of client connections an async or gthread worker holds at once, " +
      "idle keep-alive ones and open WebSockets included (as gunicorn's); further connections " +
      "wait in the listen queue, where another worker may take them, rather than being " +
      "refused. Under `--reuse-port` the runtime's server accepts them all, and this caps the " +
      "requests an async worker runs at once, each open WebSocket holding one place until it " +
      "closes. The master warns at start when `ulimit -n` is below this plus 64.",
  },
  {
    name: "max_requests",
    section: "Worker Processes",
    flags: ["--max-requests"],
    metavar: "INT",
    type: int(0),
    default: 0,
    doc: "Restart a worker gracefully after this many requests; 0 disables.",
  },
  {
    name: "max_requests_jitter",
    section: "Worker Processes",
    flags: ["--max-requests-jitter"],
    metavar: "INT",
    type: int(0),
    default: 0,
    doc: "Add a random 0..N to max_requests per worker so workers do not restart together.",
  },
  {
    name: "max_worker_memory",
    section: "Worker Processes",
    flags: ["--max-worker-memory"],
    metavar: "MB",
    type: int(0),
    default: 0,
    doc: "Restart a worker gracefully (its replacement first) once its resident memory (RSS, " +
      "read from /proc) exceeds this many megabytes; 0 disables. A value below what a worker " +
      "uses right after it boots stops the server at start.",
  },
  {
    name: "timeout",
    section: "Worker Processes",
    flags: ["-t", "--timeout"],
    metavar: "INT",
    type: int(0),
    default: 30,
    doc: "Kill and replace a worker whose event loop has not answered for this many seconds; " +
      "0 disables. Under gthread each thread is watched: one whose event loop stops for this " +
      "long, or whose app holds one request this long without answering, is replaced (its " +
      "requests answered 504, 503 for those waiting behind it); time a request waits behind " +
      "others for its thread's app does not count. A worker still booting (loading the app) " +
      "gets max(timeout, 60) seconds: a top-level await that never settles is killed after 60 s " +
      "at the shortest, saying it was still loading the app.",
  },
  {
    name: "graceful_timeout",
    section: "Worker Processes",
    flags: ["--graceful-timeout"],
    metavar: "INT",
    type: seconds(0),
    default: 30,
    doc: "Seconds workers get to finish in-flight requests after a graceful stop (SIGTERM) " +
      "before they are killed.",
  },
  {
    name: "keepalive",
    section: "Worker Processes",
    flags: ["--keep-alive"],
    metavar: "INT",
    type: seconds(0),
    default: 2,
    doc: "Seconds to wait for the next request on an idle keep-alive connection; 0 closes " +
      "the connection after each response. Under --reuse-port, Bun workers close it 0 to 7 s " +
      "late (their native server's 4 s timer tick, never early; 255 s at most), and wait at least 30 s after a " +
      "body over 64 KiB of known length (it may still be on its way to a slow client); Deno " +
      "workers' native server keeps it until the client closes it.",
  },
  {
    name: "request_timeout",
    section: "Worker Processes",
    flags: ["--request-timeout"],
    metavar: "INT",
    type: seconds(0),
    default: 0,
    doc: "Answer 504 for a request whose app has not returned its Response after this many " +
      "seconds, log it, and close its connection; the worker keeps serving (a streamed body is " +
      "not cut once its Response is returned). 0 (the default, as gunicorn) disables it. " +
      "`--timeout` is about a worker whose event loop stopped: the master kills it.",
  },
  {
    name: "body_timeout",
    section: "Worker Processes",
    flags: ["--body-timeout"],
    metavar: "INT",
    type: seconds(1),
    default: 30,
    doc: "Seconds a request body may go without a byte arriving while the app waits for it " +
      "(like the 30 seconds a request head gets); then the client gets 408 and the connection " +
      "closes. On the shared socket only: under --reuse-port the runtime's server times no " +
      "request body, and --request-timeout is what bounds a stalled one.",
  },
  {
    name: "websocket_max_message",
    section: "Worker Processes",
    flags: ["--websocket-max-message"],
    metavar: "BYTES",
    type: int(1),
    default: 16 * 1024 * 1024,
    doc: "Largest WebSocket message a client may send, in bytes (16 MiB, the maxPayloadLength " +
      "of Bun's server; not a gunicorn setting). A larger one closes the socket with code 1009. " +
      "Under --reuse-port on Deno, the native server's own limit (64 MiB) applies instead.",
  },
  {
    name: "websocket_idle_timeout",
    section: "Worker Processes",
    flags: ["--websocket-idle-timeout"],
    metavar: "INT",
    type: seconds(0),
    default: 120,
    doc: "Seconds a WebSocket may stay silent: the server pings it after half of that and " +
      "closes it (1001) when no message or pong came in the whole time (120, the idleTimeout of " +
      "Bun's server, whose own timing applies under --reuse-port on Bun workers; 0: never). Not a " +
      "gunicorn setting.",
  },
  // Security
  {
    name: "limit_request_line",
    section: "Security",
    flags: ["--limit-request-line"],
    metavar: "INT",
    type: int(0, 1048576),
    default: 4094,
    doc: "Maximum size in bytes of the HTTP request line; 0 means unlimited (up to 1 MiB). " +
      "Longer lines get 414. Values above gunicorn's cap of 8190 are honoured, not capped.",
  },
  {
    name: "limit_request_fields",
    section: "Security",
    flags: ["--limit-request-fields"],
    metavar: "INT",
    type: int(0),
    default: 100,
    doc: "Maximum number of header fields in a request. More get 431. 0, or more than 32768, " +
      "means 32768, as in gunicorn.",
  },
  {
    name: "limit_request_field_size",
    section: "Security",
    flags: ["--limit-request-field-size", "--limit-request-field_size"],
    metavar: "INT",
    type: int(0, 1048576),
    default: 8190,
    doc: "Maximum size in bytes of one header line (up to 1 MiB); 0 means unlimited. Larger " +
      "ones get 431.",
  },
  {
    name: "limit_request_body",
    section: "Security",
    flags: ["--limit-request-body"],
    metavar: "BYTES",
    type: int(0),
    default: 0,
    doc: "Maximum size in bytes of a request body; 0 means unlimited (not a gunicorn setting). " +
      "A larger Content-Length gets 413 before the body is read; a chunked body that grows " +
      "past it is cut off with 413 (or the connection closes if the response already started). " +
      "Under --reuse-port too (Bun workers' native server would refuse more than 128 MiB itself).",
  },
  // Server Mechanics
  {
    name: "reuse_port",
    section: "Server Mechanics",
    flags: ["--reuse-port"],
    type: bool,
    default: false,
    doc: "Fast mode for TCP binds: each worker opens its own SO_REUSEPORT listener served by the " +
      "runtime's native HTTP server instead of accepting on the master's socket. Faster, but " +
      "connections queued on a worker's listener are reset when that worker stops.",
  },
  {
    name: "chdir",
    section: "Server Mechanics",
    flags: ["--chdir"],
    metavar: "PATH",
    type: string("a directory"),
    default: "",
    defaultDoc: "the current directory",
    doc: "Change to this directory before loading the application. Each HUP resolves it " +
      "again, so after a symlink deploy (`ln -sfn` a release to the folder it names, then HUP) " +
      "the new workers load the new release; the configuration file and USR2's new master " +
      "stay where appserve was started.",
    path: true,
  },
  {
    name: "raw_env",
    section: "Server Mechanics",
    flags: ["-e", "--env"],
    metavar: "KEY=VALUE",
    type: list(keyValue),
    default: [],
    doc: "Set an environment variable in the workers. Repeatable.",
  },
  // Logging
  {
    name: "loglevel",
    section: "Logging",
    flags: ["--log-level"],
    metavar: "LEVEL",
    type: choice(LOG_LEVELS, { anyCase: true }),
    default: "info",
    doc:
      "Granularity of the error log. Any case is accepted (`WARNING`, `Info`), as in gunicorn. " +
      "`debug` adds gunicorn's DEBUG lines: the configuration and `Arbiter booted` at start, " +
      "`METHOD /path` per request (the default pre_request hook) and connection lines (closed, " +
      "reset, a failed TLS handshake); see Logging in README.md.",
  },
  // Planned: parsed and validated now, refused with "not supported yet" until wired.
  {
    name: "reload",
    section: "Debugging",
    flags: ["--reload"],
    type: bool,
    default: false,
    doc: "Restart workers when a source file of the app's project changes: under the folder of " +
      "the nearest deno.json/deno.jsonc or package.json above the app module (its workspace " +
      "root, for a workspace member; the module's folder when there is none, or when that folder " +
      "is the home folder or /; node_modules, dist and hidden folders such as .git left out), " +
      "a .env file the workers read in their working directory (.env, .env.local, " +
      ".env.development, .env.production, .env.test), or a reload_extra_files entry. A change " +
      "that breaks the app is logged " +
      "and the running workers stay. Development only.",
  },
  {
    name: "reload_extra_files",
    section: "Debugging",
    flags: ["--reload-extra-file"],
    metavar: "FILE",
    type: list(string("a file path")),
    default: [],
    doc: "Extra files whose change triggers a reload. Repeatable.",
  },
  {
    name: "preload_app",
    section: "Server Mechanics",
    flags: ["--preload"],
    type: bool,
    default: false,
    doc: "Import the app once, in a throwaway worker process, before any worker starts: an app " +
      "that cannot be imported stops the start at once, with its error (file, line) and exit 1, " +
      "as gunicorn's --preload does. Unlike gunicorn, nothing is shared: a Deno or Bun master " +
      "cannot fork a process holding the app, so memory is not shared copy-on-write and each " +
      "worker imports the app itself (HUP too reloads the app's code).",
  },
  {
    name: "daemon",
    section: "Server Mechanics",
    flags: ["-D", "--daemon"],
    type: bool,
    default: false,
    doc: "Detach from the terminal and run in the background; the shell gets its prompt back. " +
      "Use --error-logfile, since stderr is closed (unless -R keeps it).",
  },
  {
    name: "enable_stdio_inheritance",
    section: "Server Mechanics",
    flags: ["-R", "--enable-stdio-inheritance"],
    type: bool,
    default: false,
    doc: "With --daemon, the daemon keeps the stdout and stderr it was started with instead " +
      "of /dev/null, so its logs still reach them (stdin stays /dev/null).",
  },
  {
    name: "pidfile",
    section: "Server Mechanics",
    flags: ["-p", "--pid"],
    metavar: "FILE",
    type: string("a file path"),
    default: "",
    doc: "Write the master's pid to this file (removed on exit). A USR2 child writes PIDFILE.2 " +
      "until its parent is gone; the parent, exiting while it runs, makes PIDFILE name it first.",
    path: true,
  },
  {
    name: "worker_tmp_dir",
    section: "Server Mechanics",
    flags: ["--worker-tmp-dir"],
    metavar: "DIR",
    type: string("a directory"),
    default: "",
    doc:
      "Directory for workers' temporary files: workers get it as TMPDIR. (appserve's heartbeat " +
      "travels over a pipe, not a temporary file, so a slow disk cannot cause timeouts.)",
    path: true,
  },
  {
    name: "user",
    section: "Server Mechanics",
    flags: ["-u", "--user"],
    metavar: "USER",
    type: string("a user name or uid"),
    default: "",
    doc: "Run as this user (name or uid) when started as root: the master binds, hands unix " +
      "socket and log files to the user, then drops root for good (setgroups/setgid/setuid) " +
      "before any worker starts. Unknown users are a start-up error.",
  },
  {
    name: "group",
    section: "Server Mechanics",
    flags: ["-g", "--group"],
    metavar: "GROUP",
    type: string("a group name or gid"),
    default: "",
    doc: "Run as this group (name or gid); defaults to the user's primary group when --user " +
      "is set (gunicorn keeps the starting group). Unknown groups are a start-up error, and so " +
      "is a --user uid without an /etc/passwd entry (no primary group) when this is unset.",
  },
  {
    name: "initgroups",
    section: "Server Mechanics",
    flags: ["--initgroups"],
    type: bool,
    default: false,
    doc: "With --user, also join every group /etc/group lists the user in (initgroups(3)); " +
      "without it the processes hold the one group of --group or the user's primary group.",
  },
  {
    name: "umask",
    section: "Server Mechanics",
    flags: ["-m", "--umask"],
    metavar: "INT",
    type: fileMode,
    default: 0,
    doc: "umask under which appserve creates its unix sockets, as gunicorn: a socket gets " +
      "mode 0777 & ~umask, so the default 0 gives srwxrwxrwx (any local user may connect, " +
      "nginx's included) and 0o007 gives srwxrwx---. It applies around the bind only: log " +
      "files and the pidfile keep the umask appserve was started with, except with --daemon, " +
      "whose process umask is 0o022 (gunicorn's daemonize).",
  },
  {
    name: "forwarded_allow_ips",
    section: "Server Mechanics",
    flags: ["--forwarded-allow-ips"],
    metavar: "STRING",
    type: ipList,
    default: (env: Env) => envValue(env, "FORWARDED_ALLOW_IPS", ipList) ?? ["127.0.0.1", "::1"],
    defaultDoc: '$FORWARDED_ALLOW_IPS, else ["127.0.0.1", "::1"]',
    doc: "Peers trusted to set X-Forwarded-For, Forwarded and the secure_scheme_headers: IPs, " +
      "CIDR ranges (v4 and v6), `*` for every peer, and `unix` for peers on a unix socket. A " +
      "unix socket peer is believed on the scheme (secure_scheme_headers) even unlisted, as in " +
      "gunicorn; on the client only when `unix` is listed. A trusted peer's headers set " +
      "request.url's scheme and the client address the app sees (info.remoteAddr, " +
      "info.requestIP()) and the access log's %(h)s; untrusted peers' headers change nothing. " +
      "Forwarded and X-Forwarded-For that name different clients, or a Forwarded proto that " +
      "secure_scheme_headers contradict, get 400 (a proxy may pass a client's own header on).",
  },
  {
    name: "secure_scheme_headers",
    section: "Server Mechanics",
    type: stringTable,
    default: {
      "X-FORWARDED-PROTOCOL": "ssl",
      "X-FORWARDED-PROTO": "https",
      "X-FORWARDED-SSL": "on",
    },
    doc: "Headers and values that mark a request from a trusted proxy as HTTPS (header names " +
      "case-insensitive, values exact). A listed header with another value means HTTP; " +
      "listed headers that disagree get 400, as in gunicorn.",
  },
  {
    name: "header_map",
    section: "Server Mechanics",
    flags: ["--header-map"],
    metavar: "MODE",
    type: choice(["drop", "refuse", "dangerous"] as const),
    default: "drop",
    doc: "Header fields whose name contains `_`: `drop` leaves them out of the request the app " +
      "sees, `refuse` answers 400, `dangerous` passes them on. CGI-style gateways (a WSGI " +
      "environ, PHP) give `_` and `-` one name, so `X_Forwarded_For` could pass for " +
      "`X-Forwarded-For` behind one; nginx drops such fields by default for that reason. " +
      "Dropped fields still count against limit_request_fields. With --reuse-port the same " +
      "policy is applied to the native server's request.",
  },
  {
    name: "proxy_protocol",
    section: "Server Mechanics",
    flags: ["--proxy-protocol"],
    metavar: "MODE",
    type: choice(["off", "v1", "v2", "auto"] as const),
    default: "off",
    bareValue: "auto",
    doc: "Accept a PROXY protocol header (HAProxy; nginx `proxy_protocol on`) at the start of " +
      "each connection: `v1` (text), `v2` (binary), `auto` (either) or `off`; the flag alone " +
      "means `auto`, as in gunicorn. The header is " +
      "optional, as in gunicorn; when present it sets the client address the app and the " +
      "access log see. From a peer not in proxy_allow_ips it gets 403, a malformed one 400, " +
      "and the connection closes. Not available with --reuse-port.",
  },
  {
    name: "proxy_allow_ips",
    section: "Server Mechanics",
    flags: ["--proxy-allow-from"],
    metavar: "STRING",
    type: ipList,
    default: ["127.0.0.1", "::1"],
    doc: "Peers allowed to send a PROXY protocol header: IPs, CIDR ranges, `*`, and `unix` for " +
      "unix-socket peers (not allowed unless listed, unlike gunicorn).",
  },
  {
    name: "accesslog",
    section: "Logging",
    flags: ["--access-logfile"],
    metavar: "FILE",
    type: string("a file path or -"),
    default: "",
    doc: "Access log file, one line per request in access_log_format; - is stdout. Off when " +
      "unset. SIGUSR1 reopens it.",
    path: true,
  },
  {
    name: "access_log_format",
    section: "Logging",
    flags: ["--access-logformat"],
    metavar: "STRING",
    type: string(),
    default: DEFAULT_ACCESS_LOG_FORMAT,
    doc: "Access log line format with gunicorn's atoms: h l u t r m U q H s B b f a T D M L p, " +
      "{header}i, {header}o, {variable}e. Unknown atoms render as -, as in gunicorn. " +
      "{variable}e is one of the request's CGI variables, as gunicorn's WSGI environ has them, " +
      "never the process environment: REQUEST_METHOD, SCRIPT_NAME (empty), PATH_INFO, " +
      "QUERY_STRING, RAW_URI, SERVER_PROTOCOL, REMOTE_ADDR, REMOTE_PORT, SERVER_NAME, " +
      "SERVER_PORT, wsgi.url_scheme, CONTENT_TYPE, CONTENT_LENGTH and HTTP_<HEADER> " +
      "(HTTP_X_REQUEST_ID is X-Request-Id); any other name is -. " +
      "{header}o is the response's header as sent: Content-Length, Transfer-Encoding and a " +
      "Content-Type the server wrote itself are logged as written, not as the app's headers " +
      "have them (under --reuse-port, where the runtime's server writes the head, the app's).",
  },
  {
    name: "log_format",
    section: "Logging",
    flags: ["--log-format"],
    metavar: "text|json",
    type: choice(LOG_FORMATS),
    default: "text",
    doc: "`json`: one JSON object per line on the error log and the access log (and as the " +
      "message of syslog lines), without a logger class. Error lines: " +
      '`{"time":"2026-12-03T06:48:49.123Z","log":"error","level":"info","pid":42,' +
      '"message":"..."}` (an exception\'s stack is in `message`). Access lines: `time`, ' +
      '`"log":"access"`, then one field per atom of access_log_format, named by the atom ' +
      '(default `h l u t r s b f a`; `%({x-request-id}i)s` gives `"{x-request-id}i"`); `s`, ' +
      "`B`, `T`, `M` and `D` are numbers, every other field the string gunicorn writes. " +
      "`time` is the end of the response in UTC. A --logger-class that overrides formatError " +
      "or formatAccess still decides its lines.",
  },
  {
    name: "errorlog",
    section: "Logging",
    flags: ["--error-logfile", "--log-file"],
    metavar: "FILE",
    type: string("a file path or -"),
    default: "-",
    doc: "Error log file, appended to; - is stderr. SIGUSR1 reopens it.",
    path: true,
  },
  {
    name: "logging",
    section: "Logging",
    type: loggingTable,
    default: {},
    defaultDoc: "{} (the settings above)",
    doc: "TOML-only `[logging]` table routing each log to its own file and level: " +
      "`master` and `worker` (`file`, `level`: the error log of the master, of the workers) " +
      "and `access` (`file`, `format`). An entry wins over errorlog, loglevel, accesslog and " +
      "access_log_format; relative files resolve against the config file's folder.",
    path: true,
  },
  {
    name: "capture_output",
    section: "Logging",
    flags: ["--capture-output"],
    type: bool,
    default: false,
    doc: "Send the app's stdout and stderr (console.log) to the error log file, as is: fds 1 " +
      "and 2 of master and workers point at it (again after SIGUSR1). No effect when the " +
      "error log is stderr.",
  },
  {
    name: "logger_class",
    section: "Logging",
    flags: ["--logger-class"],
    metavar: "PATH[:EXPORT]",
    type: string("PATH[:EXPORT]"),
    default: "",
    doc: 'A module whose class extends appserve\'s Logger (`import { Logger } from "appserve"`), ' +
      "used by master and workers: the default export, EXPORT, or the one Logger subclass it " +
      "exports. A method of it that throws falls back to Logger's (reported once).",
    path: true,
  },
  {
    name: "control_socket",
    section: "Server Mechanics",
    flags: ["--control-socket"],
    metavar: "PATH",
    type: string(),
    default: "",
    doc: "Unix socket (mode 0600) on which the master takes `appserve ctl` commands: status, " +
      "reload, scale, add, remove, stop, reopen-logs. Empty: PIDFILE.ctl when --pid is set, " +
      "else, with --user (not root), `/run/appserve/UID/NAME.ctl` (the user's folder, which " +
      "the user's `appserve ctl` finds), else `$XDG_RUNTIME_DIR/appserve/NAME.ctl` when " +
      "XDG_RUNTIME_DIR is set, else " +
      "`~/.appserve/NAME.ctl` as gunicorn's `~/.gunicorn` (NAME: --name, else the app's module " +
      "and export; directory made with mode 0700; taken by another master of that NAME: a " +
      "warning and no socket), else (no HOME, or one where ~/.appserve cannot be made) none; " +
      "`off`: none. A HUP keeps the socket the master opened at start (a WARNING when the new " +
      "configuration names another); a restart applies it.",
  },
  {
    name: "metrics_bind",
    section: "Logging",
    flags: ["--metrics-bind"],
    metavar: "ADDRESS",
    type: checked("HOST:PORT or unix:PATH", (s) => {
      if (s === "") return undefined;
      try {
        const address = parseBind(s);
        return address.kind === "fd"
          ? `Invalid metrics bind "${s}": use HOST:PORT or unix:PATH`
          : undefined;
      } catch (error) {
        return (error as Error).message;
      }
    }),
    default: "",
    doc: "Serve Prometheus metrics at /metrics, a readiness check at /readyz (and /healthz: 200 " +
      "while at least one worker is booted and heartbeating, 503 while starting, stopping, or " +
      "when none is) and a liveness check at /livez (200 while the master's loop runs) on this " +
      "address, from the master: requests by method and status class and their latency, " +
      "requests in flight, worker restarts by reason, workers, each worker's RSS and age. Off " +
      "when empty. A HUP keeps the address the master started with (a WARNING when the new " +
      "configuration names another; probes stay where the orchestrator looks); a restart " +
      "applies it.",
  },
  {
    name: "statsd_host",
    section: "Logging",
    flags: ["--statsd-host"],
    metavar: "HOST[:PORT]",
    type: statsdHost,
    default: "",
    doc: "Send gunicorn's metrics to this statsd server over UDP (port 8125 when none is given, " +
      "as in gunicorn): counters gunicorn.requests, " +
      "gunicorn.request.status.<code>, gunicorn.log.{critical,error,warning,exception}, the " +
      "timer gunicorn.request.duration (ms) and the gauge gunicorn.workers. A host that cannot " +
      "be reached is warned about once per process; serving goes on. A HUP applies a changed " +
      "statsd_host, statsd_prefix or dogstatsd_tags to the master and the new workers, as " +
      "gunicorn's reload does (the old workers send to the old host until they exit; a failed " +
      "reload keeps the old one).",
  },
  {
    name: "statsd_prefix",
    section: "Logging",
    flags: ["--statsd-prefix"],
    metavar: "STRING",
    type: string(),
    default: "",
    doc: "Prefix of statsd metric names; a dot is appended when missing.",
  },
  {
    name: "dogstatsd_tags",
    section: "Logging",
    flags: ["--dogstatsd-tags"],
    metavar: "TAGS",
    type: dogstatsdTags,
    default: "",
    doc: "Comma-separated dogstatsd tags (`env:prod,role:web`) appended to every statsd metric " +
      "as `|#env:prod,role:web`.",
  },
  {
    name: "enable_backlog_metric",
    section: "Logging",
    flags: ["--enable-backlog-metric"],
    type: bool,
    default: false,
    doc: "With --statsd-host, the master sends the histogram gunicorn.backlog about once a " +
      "second: connections waiting in the listen queues (TCP and unix, and each worker's " +
      "socket under --reuse-port), summed. Linux only. --metrics-bind shows the same per " +
      "listener.",
  },
  {
    name: "syslog",
    section: "Logging",
    flags: ["--log-syslog"],
    type: bool,
    default: false,
    doc: "Also send the error log (master and workers) and the access log to syslog at " +
      "syslog_addr, as gunicorn: `<PRI>gunicorn.PREFIX.error: [PID] message` (`.access` for " +
      "access lines, at severity info). The files and streams still get their lines; the " +
      "access log goes to syslog even when accesslog is unset. A receiver that is down or " +
      "goes away is warned about once per process; its lines are dropped and counted, and " +
      "serving goes on.",
  },
  {
    name: "syslog_addr",
    section: "Logging",
    flags: ["--log-syslog-to"],
    metavar: "SYSLOG_ADDR",
    type: syslogAddr,
    default: DEFAULT_SYSLOG_ADDR,
    doc: "Where syslog lines go: `udp://HOST:PORT` and `unix://PATH#dgram` one datagram per " +
      "line (RFC 3164 without timestamp and hostname, which the receiver adds, as gunicorn " +
      "sends); `tcp://HOST:PORT` and `unix://PATH#stream` a stream of lines each ended by a " +
      "newline (RFC 6587 non-transparent framing; a newline inside a message is sent as " +
      "`#012`). A bare `unix://PATH` tries a datagram socket, then a stream. The port " +
      "defaults to 514.",
  },
  {
    name: "syslog_prefix",
    section: "Logging",
    flags: ["--log-syslog-prefix"],
    metavar: "SYSLOG_PREFIX",
    type: string(),
    default: "",
    doc: "The PREFIX in the syslog program name `gunicorn.PREFIX.error`; defaults to proc_name, " +
      "else the app module's name (`:` becomes `.`).",
  },
  {
    name: "syslog_facility",
    section: "Logging",
    flags: ["--log-syslog-facility"],
    metavar: "SYSLOG_FACILITY",
    type: choice(SYSLOG_FACILITY_NAMES, { anyCase: true }),
    default: "user",
    doc: "Syslog facility name: kern, user, mail, daemon, auth, security, syslog, lpr, news, " +
      "uucp, cron, authpriv, ftp, local0 … local7.",
  },
  {
    name: "disable_redirect_access_to_syslog",
    section: "Logging",
    flags: ["--disable-redirect-access-to-syslog"],
    type: bool,
    default: false,
    doc: "Keep access lines out of syslog when syslog is on.",
  },
  {
    name: "log_otel",
    section: "Logging",
    flags: ["--log-otel"],
    type: bool,
    default: false,
    doc: "Also send the error log and the access log (master and workers) as OpenTelemetry log " +
      "records, OTLP/HTTP with JSON bodies, to OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, else " +
      "OTEL_EXPORTER_OTLP_ENDPOINT + /v1/logs (default http://localhost:4318/v1/logs), with " +
      "OTEL_EXPORTER_OTLP_HEADERS and OTEL_SERVICE_NAME. An access record's body is its access " +
      "line (text or JSON) and it carries the trace and span ids of its request's span (see " +
      "OpenTelemetry in docs/architecture.md). Records go out once a second, or as soon as 512 " +
      "are queued (two exports at a time); a collector that is down or slow costs dropped " +
      "records (at most 4096 wait; a warning when dropping starts, the count when it stops), " +
      "never a request.",
  },
  {
    name: "proc_name",
    section: "Process Naming",
    flags: ["-n", "--name"],
    metavar: "STRING",
    type: string(),
    default: "",
    doc: "Name shown in ps: `appserve: master [NAME]` and `appserve: worker [NAME]`. Defaults " +
      "to the app module. A HUP that changes it renames the master and the new workers.",
  },
  {
    name: "keyfile",
    section: "SSL",
    flags: ["--keyfile"],
    metavar: "FILE",
    type: string("a file path"),
    default: "",
    doc: "TLS private key (PEM). Without it the key is read from certfile.",
    path: true,
  },
  {
    name: "certfile",
    section: "SSL",
    flags: ["--certfile"],
    metavar: "FILE",
    type: string("a file path"),
    default: "",
    doc: "TLS certificate (PEM, chain allowed). Setting it (or keyfile) serves HTTPS. Checked at " +
      "start: unreadable files and a key that does not match are a one-line error. On the shared " +
      "socket a client has 30 s from accept to complete its TLS handshake (the wait a plain " +
      "connection gets for its first request; no setting changes it): one that sent nothing is " +
      "then closed, one that began is closed and named in a WARNING line.",
    path: true,
  },
  {
    name: "ca_certs",
    section: "SSL",
    flags: ["--ca-certs"],
    metavar: "FILE",
    type: string("a file path"),
    default: "",
    doc: "CA bundle (PEM) client certificates are verified against, when cert_reqs asks for " +
      "them.",
    path: true,
  },
  {
    name: "cert_reqs",
    section: "SSL",
    flags: ["--cert-reqs"],
    metavar: "INT",
    type: int(0, 2),
    default: 0,
    doc: "Client certificates, as gunicorn's ssl.CERT_* values: 0 none asked for, 1 optional " +
      "(verified against ca_certs when sent), 2 required. 1 and 2 need the compiled binary " +
      "(Bun): Deno's node:tls accepts any client certificate, so appserve refuses them there.",
  },
  {
    name: "ciphers",
    section: "SSL",
    flags: ["--ciphers"],
    metavar: "LIST",
    type: string("an OpenSSL cipher list"),
    default: "",
    doc: "OpenSSL cipher list for TLS 1.2 and older (e.g. `ECDHE+AESGCM`); TLS 1.3 keeps its " +
      "suites, as with gunicorn's. Empty: the runtime's defaults. A list OpenSSL matches no " +
      "cipher with is a start-up error. Needs the compiled binary (Bun): Deno's TLS ignores it, " +
      "so appserve refuses it there.",
  },
  {
    name: "hooks",
    section: "Server Hooks",
    flags: ["--hooks"],
    metavar: "PATH",
    type: string("a file path"),
    default: "",
    doc: "A module exporting gunicorn's server hooks as functions: on_starting, on_reload, " +
      "when_ready, pre_fork, post_fork, post_worker_init, worker_int, worker_abort, pre_exec, " +
      "pre_request, post_request, child_exit, worker_exit, nworkers_changed, on_exit. Master " +
      "hooks run in the master, worker hooks in the worker. A hook that throws (or rejects) is " +
      "logged and contained, except, as in gunicorn: on_starting's aborts start-up; post_fork's " +
      "and post_worker_init's fail the worker's boot (exit 3: at start the server halts); " +
      "pre_request's fails that request (500). worker_exit's is a WARNING. HUP imports the " +
      "module again.",
    path: true,
  },
] as const satisfies readonly SettingSpec<unknown>[];

type Spec = typeof SETTINGS[number];

/** The resolved configuration: one typed field per setting. */
export type Config = {
  readonly [S in Spec as S["name"]]: S["type"] extends ValueType<infer T> ? T : never;
};

/** Settings by name. */
export const SETTINGS_BY_NAME: ReadonlyMap<string, SettingSpec> = new Map(
  SETTINGS.map((spec) => [spec.name, spec as SettingSpec]),
);

/** The most workers the `workers` setting accepts: `appserve ctl scale` and TTIN stop there too. */
export const MAX_WORKERS: number = (SETTINGS_BY_NAME.get("workers")!.type as IntType).max;
