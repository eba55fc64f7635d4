// The folders a master that dropped root must still write to: it made its log files, pidfile and
// unix sockets there as root, but as the user it creates the log files again after a rotation
// (USR1), writes PIDFILE.2 for USR2, and removes its files at exit. A folder the user cannot write
// does not stop the start; each one is said once, with what will fail there.
//
// Decided from the folder's owner, group and mode against the user's ids, not by access(2), so
// the answer is the same for the master after its drop and for --check-config run as root.
// POSIX ACLs are not read: a folder an ACL opens to the user is still reported.

import { statSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
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

/**
 * Whether `id` may create and remove files in `dir`: write and search on it, search on every
 * folder above. True when that cannot be told (the folder is gone: other checks say so).
 */
function userCanWrite(dir: string, id: Identity): boolean {
  if (id.uid === 0) return true;
  try {
    if (!permits(dir, id, 3)) return false;
    for (let up = dirname(dir);; up = dirname(up)) {
      if (!permits(up, id, 1)) return false;
      if (up === dirname(up)) return true;
    }
  } catch {
    return true;
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
  const logs = names("log");
  if (logs.length) {
    const them = logs.length > 1 ? "them" : "it";
    said.push(`USR1 cannot create ${list(logs)} again after logrotate moves ${them} away`);
  }
  const usr2 = names("pidfile", "control").map((name) => `${name}.2`);
  if (usr2.length) said.push(`USR2 cannot start a new master (it must create ${list(usr2)})`);
  const left = names("pidfile", "socket", "control");
  if (left.length) said.push(`${list(left)} ${left.length > 1 ? "are" : "is"} left behind at exit`);
  return said.length > 1 ? `${said.slice(0, -1).join(", ")}, and ${said.at(-1)}` : said[0];
}

/**
 * One line per folder `id` cannot write that holds a log file, the pidfile, a unix socket or the
 * control socket: what will fail there, and what to do.
 */
export function userFolderWarnings(config: Config, id: Identity, extra: FolderFiles): string[] {
  const byFolder = new Map<string, [Kind, string][]>();
  for (const [kind, path] of files(config, extra)) {
    const dir = dirname(path);
    byFolder.set(dir, [...(byFolder.get(dir) ?? []), [kind, path]]);
  }
  const lines: string[] = [];
  for (const [dir, kept] of byFolder) {
    if (userCanWrite(dir, id)) continue;
    // copytruncate keeps the log file in place, so only a folder of logs alone is saved by it.
    const logsOnly = kept.every(([kind]) => kind === "log");
    const remedy = `chown the folder to ${id.user}` +
      (logsOnly ? `, or rotate with "copytruncate"` : "");
    lines.push(`User ${id.user} cannot write to ${dir}: ${consequences(kept)}; ${remedy}`);
  }
  return lines;
}
