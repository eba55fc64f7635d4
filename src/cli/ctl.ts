// `appserve ctl VERB`: speaks to a running master over its control socket
// (src/ipc/control_protocol.ts) and prints the answer, for people or, with --json, scripts.

import { readdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { MAX_WORKERS } from "../config/settings.ts";
import { AppserveError, UsageError } from "../errors.ts";
import { ExitCode } from "../exit_codes.ts";
import {
  AskFailure,
  askMaster,
  type ControlReply,
  type ControlRequest,
  controlSocketName,
  defaultControlDir,
  scaleProblem,
  SYSTEM_CONTROL_DIR,
  type WorkerStatus,
} from "../ipc/control_protocol.ts";

const USAGE = `Usage: appserve ctl [--control-socket PATH | -p PIDFILE | -n NAME] [--json] VERB

Finds the master by its --control-socket, its --pid file (PIDFILE.ctl), or, for a master
started with neither, under $XDG_RUNTIME_DIR/appserve (without XDG_RUNTIME_DIR, ~/.appserve),
else under /run/appserve/UID (a master started as root with -u this user; for root, any user's):
NAME.ctl (NAME: its --name, else the app's module), or the only socket there.

Verbs:
  status          workers: pid, age, requests served, in flight, RSS, state
  reload          as HUP: new configuration, fresh workers; waits (up to 4 s) for them to
                  serve: exit 0 when they do, or when they still boot after 4 s (the reload
                  goes on, the master logs how it ends); exit 1 when the reload failed
  scale N         run N workers
  add | remove    one worker more | less (as TTIN | TTOU)
  stop [--quick]  graceful stop (as TERM), or quick (as QUIT; during a graceful stop too)
  reopen-logs     as USR1
`;

/** How long ctl waits for the master's answer. */
const ANSWER_MS = 10_000;

function request(verb: string | undefined, rest: string[], quick: boolean): ControlRequest {
  const none = (r: ControlRequest) => {
    if (rest.length) throw new UsageError(`ctl ${verb}: Unexpected argument "${rest[0]}"`);
    return r;
  };
  switch (verb) {
    case "status":
    case "reload":
    case "add":
    case "remove":
    case "reopen-logs":
      return none({ verb });
    case "stop":
      return none({ verb, quick });
    case "scale": {
      // One number: a second argument is the mistake, not the number before it.
      if (rest.length > 1) throw new UsageError(`ctl scale: Unexpected argument "${rest[1]}"`);
      const workers = Number(rest[0]);
      // Past the workers setting's maximum too: the master would start every one of them.
      const problem = scaleProblem(rest.length === 1 ? workers : NaN, MAX_WORKERS);
      if (problem) throw new UsageError(`ctl scale: Cannot read "${rest[0] ?? ""}": ${problem}`);
      return { verb, workers };
    }
    case undefined:
      throw new UsageError(`ctl: Missing a verb\n${USAGE}`);
    default:
      throw new UsageError(`ctl: Unknown verb "${verb}"\n${USAGE}`);
  }
}

/** Whether `path` is a socket file (connect(2) to a regular file is refused as a stale one is). */
function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    // Gone meanwhile: said as stale, as before.
    return true;
  }
}

/** Why the socket at `path` gave no answer, as ctl says it. */
function unreached(path: string, failure: AskFailure): string {
  if (failure.reason === "timeout") return "no answer";
  if (failure.reason === "not json") return "its answer is not JSON";
  const error = failure.error!;
  return error.code === "ENOENT"
    ? "no such socket (is it running, with this --pid, --control-socket or --name?)"
    : error.code === "ECONNREFUSED" && !isSocket(path)
    ? "not a socket"
    : error.code === "ECONNREFUSED"
    ? "stale socket, no master listens"
    : error.code === "EACCES"
    ? "permission denied (the socket belongs to the user the master runs as)"
    : error.code === "ENOTSOCK"
    ? "not a socket"
    : error.message;
}

/** The master's answer to `req` on the socket at `path`. */
async function ask(path: string, req: ControlRequest): Promise<ControlReply> {
  try {
    return await askMaster(path, req, ANSWER_MS);
  } catch (error) {
    if (!(error instanceof AskFailure)) throw error;
    throw new AppserveError(
      `ctl: Cannot reach the master at "${path}": ${unreached(path, error)}`,
      1,
    );
  }
}

function mb(bytes: number | null): string {
  return bytes === null ? "-" : (bytes / 1048576).toFixed(1);
}

function statusTable(workers: WorkerStatus[]): string {
  const rows = [["PID", "AGE(s)", "REQUESTS", "IN FLIGHT", "RSS(MB)", "STATE"]];
  for (const w of workers) {
    rows.push([w.pid, w.age, w.requests, w.inFlight, mb(w.rss), w.state].map(String));
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

/** The sockets (NAME.ctl) in `dir`, by path. */
function socketsIn(dir: string): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith(".ctl")).sort().map((f) => join(dir, f));
  } catch {
    // No directory: no master has made one.
    return [];
  }
}

/**
 * Where masters started without --pid or --control-socket may be, in the order looked at: this
 * user's defaultControlDir() (XDG_RUNTIME_DIR's, else HOME's), then /run/appserve/UID, where a
 * master given -u this user listens (for root: every user's, one place together). `said`: how
 * a message names the place.
 */
function defaultPlaces(): { dirs: string[]; said: string }[] {
  const own = defaultControlDir()?.dir;
  const places = own ? [{ dirs: [own], said: own }] : [];
  const uid = process.getuid?.();
  if (uid === 0) {
    let users: string[] = [];
    try {
      users = readdirSync(SYSTEM_CONTROL_DIR).filter((f) => /^\d+$/.test(f)).sort()
        .map((f) => join(SYSTEM_CONTROL_DIR, f));
    } catch {
      // No master given -u runs.
    }
    places.push({ dirs: users, said: `${SYSTEM_CONTROL_DIR}/*` });
  } else if (uid !== undefined) {
    const mine = join(SYSTEM_CONTROL_DIR, String(uid));
    places.push({ dirs: [mine], said: mine });
  }
  return places;
}

/** The default socket: NAME.ctl, or the only one, in the first place defaultPlaces() has any. */
function defaultSocket(name: string | undefined): string {
  const places = defaultPlaces();
  const own = defaultControlDir()?.dir;
  const how = "--control-socket PATH, -p PIDFILE or -n NAME";
  const file = name === undefined
    ? undefined
    : `${controlSocketName({ proc_name: name, app: "" })}.ctl`;
  for (const { dirs, said } of places) {
    const all = dirs.flatMap(socketsIn);
    const found = file === undefined ? all : all.filter((path) => basename(path) === file);
    if (found.length === 1) return found[0];
    if (found.length === 0) continue;
    if (file !== undefined) {
      throw new UsageError(
        `ctl: Several masters named ${name} (${
          found.join(", ")
        }): name one with --control-socket PATH`,
      );
    }
    const names = dirs.length === 1 ? found.map((path) => basename(path, ".ctl")) : found;
    // Root finds every user's: two users' masters of one NAME are not told apart by -n.
    const twins = new Set(found.map((path) => basename(path))).size < found.length;
    throw new UsageError(
      `ctl: Several masters in ${said} (${names.join(", ")}): name one with ` +
        (twins ? "--control-socket PATH (some share a NAME)" : "-n NAME"),
    );
  }
  const looked = places.map((place) => place.said).join(" or ");
  // -n NAME found nowhere: said missing in this user's directory, by connecting there.
  if (file !== undefined && own) return join(own, file);
  if (file !== undefined) {
    // -n names a socket in those directories: asking for -n again would not help.
    throw new UsageError(
      `ctl: -n NAME needs $XDG_RUNTIME_DIR or $HOME, and neither is set (nor is ${file} in ` +
        `${looked}): name the master with --control-socket PATH or -p PIDFILE instead`,
    );
  }
  const none = own ? `no control socket in ${looked}` : `$XDG_RUNTIME_DIR and $HOME are not set, ` +
    `and no control socket in ${looked}`;
  throw new UsageError(`ctl: Name the master: ${how} (${none})`);
}

/** Runs `appserve ctl` with `argv` (after "ctl"); resolves to the exit code. */
export async function runCtl(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        "control-socket": { type: "string" },
        pid: { type: "string", short: "p" },
        name: { type: "string", short: "n" },
        json: { type: "boolean" },
        quick: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new UsageError(`ctl: ${(error as Error).message}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return ExitCode.OK;
  }
  const path = values["control-socket"] ??
    (values.pid ? `${values.pid}.ctl` : defaultSocket(values.name));
  const [verb, ...rest] = positionals;
  const req = request(verb, rest, values.quick === true);
  const reply = await ask(path, req);
  if (values.json) process.stdout.write(`${JSON.stringify(reply)}\n`);
  if (!reply.ok) {
    // A reload the master tried and that failed was not refused: its line says what failed.
    const lead = req.verb === "reload" ? "ctl" : "ctl: The master refused";
    if (!values.json) process.stderr.write(`${lead}: ${reply.error}\n`);
    return 1;
  }
  if (values.json) return ExitCode.OK;
  if (req.verb === "status") {
    const n = reply.configured;
    process.stdout.write(
      `master ${reply.master}, ${n === 1 ? "1 worker" : `${n} workers`} configured` +
        `${reply.message ? ` (${reply.message})` : ""}\n` +
        `${statusTable(reply.workers ?? [])}\n`,
    );
  } else {
    process.stdout.write(`${reply.message ?? "ok"}\n`);
  }
  return ExitCode.OK;
}
