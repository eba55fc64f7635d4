// The master's pidfile: written atomically, refused when it names a live
// process, renamed on USR2 promotion, removed on exit.

import { readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { ConfigError, osReason } from "../errors.ts";

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: string }).code === "EPERM";
  }
}

export class Pidfile {
  constructor(public path: string) {}

  /** Writes this process's pid; refuses when the file names another live process. */
  create(pid: number): void {
    let existing = NaN;
    try {
      existing = Number(readFileSync(this.path, "utf8").trim());
    } catch {
      // No previous file.
    }
    if (Number.isInteger(existing) && existing > 0 && existing !== pid && isAlive(existing)) {
      throw new ConfigError(
        `${this.path}: Already running on pid ${existing} (or pidfile is stale)`,
      );
    }
    const temp = `${this.path}.${pid}.tmp`;
    try {
      writeFileSync(temp, `${pid}\n`);
      renameSync(temp, this.path);
    } catch (error) {
      try {
        unlinkSync(temp);
      } catch {
        // Never made.
      }
      // The path the user gave and the reason in words: the temporary file is ours, not theirs.
      const reason = osReason(error);
      throw new ConfigError(
        `Cannot write pidfile ${this.path}: ${reason[0].toLowerCase()}${reason.slice(1)}`,
      );
    }
  }

  /** Moves the file (USR2 promotion: PIDFILE.2 → PIDFILE). */
  rename(path: string): void {
    try {
      renameSync(this.path, path);
      this.path = path;
    } catch {
      // Keep the old name; the master still runs.
    }
  }

  /** Removes the file if it still names this process. */
  unlink(pid: number): void {
    try {
      if (Number(readFileSync(this.path, "utf8").trim()) === pid) unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }
}

export { isAlive };
