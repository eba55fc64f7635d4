// The master's pidfile: written atomically, refused when it names a live
// process, renamed on USR2 promotion, removed on exit (or handed to the new
// master a USR2 started, which then runs on).

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

function randomSuffix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
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
    this.#write(pid);
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

  /**
   * Removes the file if it still names this process; or, `successor` given (the new master a
   * USR2 started, running on), makes it name that one in one rename: the new master renames its
   * PIDFILE.2 over it only once it sees this one gone, and systemd's PIDFile= or a script reading
   * the file in between would find none.
   */
  unlink(pid: number, successor?: number): void {
    try {
      if (Number(readFileSync(this.path, "utf8").trim()) !== pid) return;
      if (successor === undefined) unlinkSync(this.path);
      else this.#write(successor);
    } catch {
      // Already gone; or not writable (the successor's promotion renames its own over it).
    }
  }

  /** Writes `pid` to the file through a new file renamed over it: never seen half written. */
  #write(pid: number): void {
    // Created, never opened: a name nobody can guess, and "wx" (O_CREAT|O_EXCL) fails on any
    // file or symlink already there. The master may still be root, and the pidfile's folder is
    // often the app user's, who could plant a symlink at a guessable name to a file of root's.
    const temp = `${this.path}.${pid}.${randomSuffix()}.tmp`;
    try {
      writeFileSync(temp, `${pid}\n`, { flag: "wx", mode: 0o644 });
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
}

export { isAlive };
