// The folders a master that dropped root must still write to: it made its log files, pidfile and
// unix sockets there as root, but as the user it writes PIDFILE.2 for USR2, removes its files at
// exit, and creates a log file again after a rotation (USR1) when logrotate did not ("create").
// A folder the user cannot write does not stop the start; each one is said once, with what will
// fail there: a WARNING where USR2 or the exit fails, an INFO where only logs are (logrotate's
// common "create" makes the new file itself, and USR1 then only reopens it).
//
// Decided as root, before the drop (a folder under one the user cannot search would hide itself
// from the user), from the owner, group and mode against the user's ids rather than by access(2),
// so the answer is the same for the master and for --check-config run as root. Symlinks are
// resolved: the folders above the real one count too. POSIX ACLs are not read: a folder an ACL
// opens to the user is still reported.

import { closeSync, existsSync, openSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { Config } from "../config/settings.ts";
import { controlSocketPath, implicitControlSocket } from "../ipc/control_protocol.ts";
import { accessRoute, errorRoute } from "../log/logging_table.ts";
import type { Identity } from "./privileges.ts";

/** The unix sockets the master binds itself (not ones systemd passed), by path. */
export interface FolderFiles {
  sockets: string[];
}

type Kind = "log" | "pidfile" | "socket" | "control";

/** Whether `id` may search (`bits` 1) or search and create in (`bits` 3) `path`. */
function permits(path: string, id: Identity, bits: number): boolean {
  const st = statSync(path);
  const shift = st.uid === id.uid ? 6 : id.groups.includes(st.gid) ? 3 : 0;
  return ((st.mode >> shift) & bits) === bits;
}

/** Whether `id` may search every folder above `path`. */
function searchable(path: string, id: Identity): boolean {
  return unsearchable(path, id) === undefined;
}

/** The highest folder above `path` that `id` may not search, if any. */
function unsearchable(path: string, id: Identity): string | undefined {
  const above: string[] = [];
  for (let up = dirname(path); up !== path; path = up, up = dirname(up)) above.unshift(up);
  return above.find((folder) => !permits(folder, id, 1));
}

/**
 * Whether `id` may create and remove files in `dir`: write and search on it (its real path), search
 * on every folder above it, both as written and as resolved. True when that cannot be told (the
 * folder is gone: other checks say so); a folder even root may not stat is not the user's either.
 */
function userCanWrite(dir: string, id: Identity): boolean {
  if (id.uid === 0) return true;
  let real = dir;
  try {
    real = realpathSync(dir);
  } catch {
    // Gone or unreadable: the literal path is checked, and says which.
  }
  try {
    return permits(real, id, 3) && searchable(real, id) && searchable(dir, id);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== "EACCES" && code !== "EPERM";
  }
}

/** A log file the master created: a path, not a stream, device or pipe (/dev/stdout). */
function isLogFile(path: string): boolean {
  if (!path || path === "-" || /^\/(dev|proc)\//.test(resolve(path))) return false;
  try {
    return statSync(path).isFile();
  } catch {
    return true;
  }
}

function files(config: Config, extra: FolderFiles): [Kind, string][] {
  const logs = [
    errorRoute(config, "master").file,
    errorRoute(config, "worker").file,
    accessRoute(config).file,
  ].filter(isLogFile);
  const all: [Kind, string][] = [...new Set(logs.map((f) => resolve(f)))].map((f) => ["log", f]);
  if (config.pidfile) all.push(["pidfile", resolve(config.pidfile)]);
  for (const socket of extra.sockets) all.push(["socket", resolve(socket)]);
  // The default one under $XDG_RUNTIME_DIR is not needed by USR2's new master (it warns then).
  const control = implicitControlSocket(config) ? "" : controlSocketPath(config);
  if (control) all.push(["control", resolve(control)]);
  return all;
}

function list(names: string[]): string {
  return names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
}

/** What fails in a folder the user cannot write, given what the master keeps there. */
function consequences(kept: [Kind, string][]): string {
  const names = (...kinds: Kind[]) =>
    kept.filter(([kind]) => kinds.includes(kind)).map(([, path]) => basename(path));
  const said: string[] = [];
  const usr2 = names("pidfile", "control").map((name) => `${name}.2`);
  if (usr2.length) said.push(`USR2 cannot start a new master (it must create ${list(usr2)})`);
  const left = names("pidfile", "socket", "control");
  if (left.length) said.push(`${list(left)} ${left.length > 1 ? "are" : "is"} left behind at exit`);
  const logs = names("log");
  if (logs.length) {
    const them = logs.length > 1 ? "them" : "it";
    said.push(
      `if logrotate moves ${list(logs)} away without "create", USR1 cannot create ${them} again`,
    );
  }
  return said.length > 1 ? `${said.slice(0, -1).join(", ")}, and ${said.at(-1)}` : said[0];
}

/** The log files the workers open themselves, as the user they run as. */
function workerLogs(config: Config): string[] {
  const logs = [errorRoute(config, "worker").file, accessRoute(config).file].filter(isLogFile);
  return [...new Set(logs.map((f) => resolve(f)))];
}

/**
 * For each worker log file behind a folder `id` may not search by the mode bits (as written or
 * resolved), that folder. Asked as root, before the drop, as userFolderNotes() is: only to name
 * the folder in unreachableLogs()'s line.
 */
export function logBlockers(config: Config, id: Identity): Map<string, string> {
  const blockers = new Map<string, string>();
  for (const file of workerLogs(config)) {
    try {
      const real = existsSync(file)
        ? realpathSync(file)
        : join(realpathSync(dirname(file)), basename(file));
      const blocked = unsearchable(file, id) ?? unsearchable(real, id);
      if (blocked) blockers.set(file, blocked);
    } catch {
      // Gone, or not even root may look: the kernel's answer after the drop says it.
    }
  }
  return blockers;
}

/**
 * The log files the workers open themselves that this process, already switched to `id`, cannot
 * reach: one line each. Every worker would fail to boot on them, so a start refuses them
 * (gunicorn's workers inherit the files its master opened; appserve's open their own). Asked of
 * the kernel (ACLs count): `handed`, the master made the files and gave them to `id` (a start), so
 * each is opened for appending as a worker opens it; otherwise (--check-config, which creates
 * nothing) the way into its folder is asked. `blockers`: logBlockers(), taken before the drop.
 */
export function unreachableLogs(
  config: Config,
  id: Identity,
  handed: boolean,
  blockers: Map<string, string>,
): string[] {
  const lines: string[] = [];
  for (const file of workerLogs(config)) {
    try {
      if (handed && existsSync(file)) closeSync(openSync(file, "a"));
      // "dir/." resolves through dir itself: every folder on the way must let it search.
      else statSync(`${dirname(file)}/.`);
      continue;
    } catch (error) {
      const blocked = blockers.get(file);
      const code = (error as NodeJS.ErrnoException).code ?? "an error";
      lines.push(
        blocked
          ? `User ${id.user} cannot reach ${file}: it may not search ${blocked}, and the ` +
            `workers open their logs as ${id.user} (chmod o+x ${blocked}, or chown it to ${id.user})`
          : `User ${id.user} cannot open ${file} (${code}), and the workers open their logs as ` +
            id.user,
      );
    }
  }
  return lines;
}

/** One folder the user cannot write: a warning when more than the logs' rotation fails there. */
export interface FolderNote {
  warning: boolean;
  line: string;
}

/**
 * One note per folder `id` cannot write that holds a log file, the pidfile, a unix socket or the
 * control socket: what will fail there, and what to do. Called as root, before the drop.
 */
export function userFolderNotes(config: Config, id: Identity, extra: FolderFiles): FolderNote[] {
  const byFolder = new Map<string, [Kind, string][]>();
  for (const [kind, path] of files(config, extra)) {
    const dir = dirname(path);
    byFolder.set(dir, [...(byFolder.get(dir) ?? []), [kind, path]]);
  }
  const notes: FolderNote[] = [];
  for (const [dir, kept] of byFolder) {
    if (userCanWrite(dir, id)) continue;
    // "create" or copytruncate keep a log file there, so only a folder of logs alone is saved.
    const logsOnly = kept.every(([kind]) => kind === "log");
    const remedy = logsOnly
      ? `rotate with "create" or "copytruncate", or chown the folder to ${id.user}`
      : `chown the folder to ${id.user}`;
    const line = `User ${id.user} cannot write to ${dir}: ${consequences(kept)}; ${remedy}`;
    notes.push({ warning: !logsOnly, line });
  }
  return notes;
}
