// Removing the Deno worker bundle folders old versions left in the cache (one per upgrade, never
// used again). A folder goes only when all of these hold, so that none a master still runs from
// does: its name is exactly appserve's `<version>-<16 hex>`, it is a real folder (not a symlink)
// of our uid, its mtime (every install touches it: start, HUP, re-write) is PRUNE_AFTER_DAYS old,
// and no process in /proc has it in its command line (a Deno worker runs
// `deno run … <folder>/process_entry.js`). The age covers what /proc cannot show (a master between
// its install and its first worker, processes of another PID namespace sharing the cache); /proc
// covers a master that has run for longer than that from a folder it has not touched since.
// Without /proc nothing is removed, nor the folder this start runs from (on a read-only cache its
// mtime stays as old as the image). A folder is renamed to a `.…prune` name first (a master
// racing us gets ENOENT and leaves it), then removed entry by entry without following symlinks.

import { randomBytes } from "node:crypto";
import {
  lstatSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
  utimesSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";

/**
 * Upgrades come weeks apart and a rollback (USR2 back to the old binary) comes within days, so a
 * month keeps the previous version's folder through both; a folder is about 0.6 MB, so a month of
 * them costs little. systemd-tmpfiles keeps /var/tmp for 30 days too.
 */
export const PRUNE_AFTER_DAYS = 30;

/** `<version>-<hash>` as installBundle() names a folder (a semver version, 16 hex). */
const BUNDLE_NAME = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?-[0-9a-f]{16}$/;
/** A folder renamed for removal: `.<bundle name>.<pid>.<8 hex>.prune`. */
const PRUNING_NAME = /^\.(.+)\.(\d+)\.[0-9a-f]{8}\.prune$/;

/** Marks `dir` as used now; a folder it cannot touch is not ours to remove anyway. */
export function markBundleUsed(dir: string): void {
  try {
    const now = new Date();
    utimesSync(dir, now, now);
  } catch {
    // A read-only or foreign folder: the install itself said what it had to.
  }
}

/** What a start says about pruning: at most one INFO line and one WARNING. */
export interface PruneReport {
  info?: string;
  warning?: string;
}

const code = (error: unknown) => (error as NodeJS.ErrnoException).code;

// The command lines of every process we may read, NUL-separated arguments joined.
function commandLines(): string[] {
  const lines: string[] = [];
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      lines.push(readFileSync(`/proc/${pid}/cmdline`, "latin1"));
    } catch {
      // Gone meanwhile, or hidden from us.
    }
  }
  return lines;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return code(error) === "EPERM";
  }
}

// Removes `path` without following a symlink; the bytes of the files it removed. ENOENT is a
// master removing the same entries at once.
function removeTree(path: string): number {
  let bytes = 0;
  try {
    const st = lstatSync(path);
    if (!st.isDirectory()) {
      unlinkSync(path);
      return st.isFile() ? st.size : 0;
    }
    for (const name of readdirSync(path)) bytes += removeTree(join(path, name));
    rmdirSync(path);
  } catch (error) {
    if (code(error) !== "ENOENT") throw error;
  }
  return bytes;
}

/**
 * Removes the old bundle folders in each of `bases` (installBundle()'s cache candidates) except
 * what the rule above keeps; never throws.
 */
export function pruneBundles(
  bases: string[],
  options: { now?: number; uid?: number; keep?: string } = {},
): PruneReport {
  const now = options.now ?? Date.now();
  const uid = options.uid ?? process.getuid?.() ?? 0;
  const removed: string[] = [];
  const failed: string[] = [];
  let total = 0;
  let lines: string[] | undefined;
  for (const base of bases) {
    let names: string[];
    try {
      // A folder others may write (its group too) could swap an entry for a symlink as it is
      // removed.
      const st = statSync(base);
      if (st.uid !== uid || (st.mode & 0o022) !== 0) continue;
      names = readdirSync(base).sort();
    } catch {
      continue; // No cache there (yet): nothing to prune.
    }
    for (const name of names) {
      const path = join(base, name);
      if (path === options.keep) continue;
      const leftover = PRUNING_NAME.exec(name);
      let trash = path;
      try {
        if (leftover) {
          // A removal that failed or was cut short, by a master no longer running.
          if (!BUNDLE_NAME.test(leftover[1]) || alive(Number(leftover[2]))) continue;
        } else if (!BUNDLE_NAME.test(name)) continue;
        const st = lstatSync(path);
        if (!st.isDirectory() || st.uid !== uid) continue;
        if (!leftover) {
          if (now - st.mtimeMs < PRUNE_AFTER_DAYS * 86_400_000) continue;
          try {
            lines ??= commandLines();
          } catch {
            return {}; // No /proc: whether a folder is in use cannot be known.
          }
          if (lines.some((line) => line.includes(`/${name}/`))) continue;
        }
        const hex = randomBytes(4).toString("hex");
        const to = join(base, `.${leftover?.[1] ?? name}.${process.pid}.${hex}.prune`);
        renameSync(path, to);
        trash = to;
        const bytes = removeTree(trash);
        total += bytes;
        removed.push(`${path} (${bytes} bytes)`);
      } catch (error) {
        // ENOENT: another master took it first. EROFS: a cache extracted into a read-only image,
        // which nothing adds to either.
        if (code(error) === "ENOENT" || code(error) === "EROFS") continue;
        const why = code(error) ?? (error as Error).message.split("\n")[0];
        failed.push(`${trash === path ? path : `${path} (renamed ${trash})`}: ${why}`);
      }
    }
  }
  const report: PruneReport = {};
  if (removed.length) {
    const folders = removed.length === 1 ? "folder" : "folders";
    report.info = `Removed ${removed.length} Deno worker bundle ${folders} unused for ` +
      `${PRUNE_AFTER_DAYS} days, ${total} bytes: ${removed.join(", ")}`;
  }
  if (failed.length) {
    const more = failed.length > 1 ? ` (and ${failed.length - 1} more)` : "";
    report.warning = `Cannot remove the old Deno worker bundle folder ${failed[0]}${more}`;
  }
  return report;
}
