// A throwaway system user (and its group) for the privilege-drop tests, created with useradd and
// removed with userdel; plus what /proc says about a process's ids.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  remove(): void;
}

/** Creates a system user with its own group, no home and no login shell. Needs root. */
export function createUser(): TestUser {
  const name = `apsv${process.pid % 100000}${Math.floor(Math.random() * 1000)}`;
  execFileSync("useradd", [
    "--system",
    "--user-group",
    "--no-create-home",
    "--shell",
    "/usr/sbin/nologin",
    name,
  ]);
  const ids = (flag: string) =>
    Number(execFileSync("id", [flag, name], { encoding: "utf8" }).trim());
  return {
    name,
    uid: ids("-u"),
    gid: ids("-g"),
    remove: () => execFileSync("userdel", [name]),
  };
}

export interface ProcIds {
  /** real, effective, saved, filesystem */
  uids: number[];
  gids: number[];
  groups: number[];
}

/** The ids of a process from /proc/PID/status. */
export function procIds(pid: number): ProcIds {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) =>
    (new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)?.[1] ?? "").trim().split(/\s+/)
      .filter(Boolean).map(Number);
  return { uids: field("Uid"), gids: field("Gid"), groups: field("Groups") };
}
