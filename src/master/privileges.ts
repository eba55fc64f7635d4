// Privilege drop (gunicorn's user/group): the master starts as root, binds (ports below 1024,
// root-owned socket folders), hands the files it created to the target user, then becomes that
// user for good with setgroups/setgid/setuid. Workers are spawned afterwards and so never hold
// root at all.

import { lchownSync, readFileSync } from "node:fs";
import process from "node:process";
import type { Config } from "../config/settings.ts";
import { ConfigError, osReason } from "../errors.ts";
import type { Libc } from "../runtime/types.ts";
import { accessRoute, errorRoute } from "../log/logging_table.ts";

/** Whom the processes run as after the drop. */
export interface Identity {
  uid: number;
  gid: number;
  /** The user's name (its uid when /etc/passwd has none), for messages. */
  user: string;
  /** Every group the processes hold: the gid, and with --initgroups the user's others. */
  groups: number[];
  /** How the user and group read in logs: `name (uid N)`. */
  describe: string;
}

function table(path: string): string[][] {
  try {
    return readFileSync(path, "utf8").split("\n").filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split(":"));
  } catch {
    return [];
  }
}

const NUMERIC = /^\d+$/;

/** The name /etc/passwd gives `uid`, if any. */
export function userName(uid: number): string | undefined {
  return table("/etc/passwd").find((f) => f[2] === String(uid))?.[0];
}

/** The home folder /etc/passwd gives `uid`, if any. */
export function homeOf(uid: number): string | undefined {
  return table("/etc/passwd").find((f) => f[2] === String(uid))?.[5] || undefined;
}

/**
 * Resolves --user/--group (names from /etc/passwd and /etc/group, or numbers) into an Identity,
 * or null when neither is set. Without --group the user's primary group is used (gunicorn would
 * keep the starting group, root's). Throws ConfigError for an unknown name, a uid without a
 * passwd entry and no --group, and when the process cannot switch because it is not root.
 */
export function resolveIdentity(
  config: Pick<Config, "user" | "group" | "initgroups">,
): Identity | null {
  if (!config.user && !config.group) return null;
  const uid0 = process.getuid?.() ?? 0;
  const gid0 = process.getgid?.() ?? 0;
  let uid = uid0;
  let gid = gid0;
  let userName = String(uid0);
  if (config.user) {
    const entry = table("/etc/passwd").find((f) =>
      NUMERIC.test(config.user) ? f[2] === config.user : f[0] === config.user
    );
    if (!entry && !NUMERIC.test(config.user)) {
      throw new ConfigError(`No such user: "${config.user}"`);
    }
    uid = entry ? Number(entry[2]) : Number(config.user);
    userName = entry ? entry[0] : config.user;
    if (entry) gid = Number(entry[3]);
    // A uid of no /etc/passwd entry has no primary group: the workers would keep root's.
    else if (!config.group && gid0 === 0) {
      throw new ConfigError(
        `User ${config.user} has no /etc/passwd entry, so no primary group: name one with ` +
          "--group (the workers would otherwise keep group root)",
      );
    }
  }
  // Without --group, the user's primary group (or the current one), named when /etc/group has it.
  const group = lookupGroup(config.group || String(gid));
  gid = group.gid;
  const groupName = group.name;
  if (uid0 !== 0 && (uid !== uid0 || gid !== gid0)) {
    throw new ConfigError(
      `Cannot switch to user ${userName} (uid ${uid}), group ${groupName} (gid ${gid}): ` +
        `appserve is not running as root`,
    );
  }
  // initgroups(3): the groups of /etc/group that list the user (by name) as a member.
  const member = userName === String(uid)
    ? table("/etc/passwd").find((f) => f[2] === String(uid))?.[0]
    : userName;
  const others = config.initgroups && member
    ? table("/etc/group").filter((f) => NUMERIC.test(f[2]) && f[3]?.split(",").includes(member))
      .map((f) => Number(f[2]))
    : [];
  return {
    uid,
    gid,
    user: userName,
    groups: [...new Set([gid, ...others])],
    describe: `user ${userName} (uid ${uid}), group ${groupName} (gid ${gid})` +
      (others.length ? `, groups ${others.join(",")}` : ""),
  };
}

/** A file the master created and hands to the user; `gid` when it keeps a group of its own. */
export interface OwnedFile {
  path: string;
  gid?: number;
}

/**
 * What the master created as root and must still write or remove as the user: the unix sockets it
 * bound (keeping the --socket-group when one is set), every log file of the flat settings and the
 * [logging] table, and the pidfile.
 */
/** The paths of the unix sockets the master bound itself (not ones it inherited). */
export function ownedSockets(
  listeners: { address: { kind: string; path?: string }; ownsPath?: boolean }[],
): string[] {
  return listeners.flatMap((l) =>
    l.ownsPath && l.address.kind === "unix" && l.address.path ? [l.address.path] : []
  );
}

export function ownedFiles(
  config: Parameters<typeof errorRoute>[0],
  listeners: { address: { kind: string; path?: string }; ownsPath?: boolean }[],
  options: { pidfile?: string; socketGid?: number } = {},
): OwnedFile[] {
  const files: OwnedFile[] = ownedSockets(listeners).map((path) => ({
    path,
    gid: options.socketGid,
  }));
  const logs = [
    errorRoute(config, "master").file,
    errorRoute(config, "worker").file,
    accessRoute(config).file,
  ];
  for (const log of logs) {
    if (log && log !== "-" && !files.some((f) => f.path === log)) files.push({ path: log });
  }
  if (options.pidfile) files.push({ path: options.pidfile });
  return files;
}

/** Hands files the master created as root (unix sockets, log files) to the target user. */
export function chownAll(files: OwnedFile[], id: Identity): void {
  for (const { path, gid } of files) {
    try {
      // The file itself: a symlink swapped in for a log file must not hand over its target.
      lchownSync(path, id.uid, gid ?? id.gid);
    } catch (error) {
      throw new ConfigError(`Cannot hand "${path}" to ${id.describe}: ${osReason(error)}`);
    }
  }
}

/** A group by name or gid, from /etc/group; a number not listed there is taken as it is. */
export function lookupGroup(group: string): { gid: number; name: string } {
  const entry = table("/etc/group").find((f) =>
    NUMERIC.test(group) ? f[2] === group : f[0] === group
  );
  if (!entry && !NUMERIC.test(group)) throw new ConfigError(`No such group: "${group}"`);
  return entry ? { gid: Number(entry[2]), name: entry[0] } : { gid: Number(group), name: group };
}

/**
 * Becomes `id` for good. Nothing to do when already it (a USR2 child of a master that dropped
 * already). Order matters: groups first, while still root.
 */
/** Whether this process runs as someone else than `id`: dropPrivileges would switch. */
export function wouldDrop(id: Identity): boolean {
  return process.getuid?.() !== id.uid || process.getgid?.() !== id.gid;
}

export function dropPrivileges(libc: Libc, id: Identity): boolean {
  if (!wouldDrop(id)) return false;
  const fail = (call: string) => {
    const errno = libc.errno();
    throw new ConfigError(`Cannot switch to ${id.describe}: ${call}: ${libc.strerror(errno)}`);
  };
  if (libc.setgroups(id.groups) !== 0) fail("setgroups");
  if (libc.setgid(id.gid) !== 0) fail("setgid");
  if (libc.setuid(id.uid) !== 0) fail("setuid");
  return true;
}
