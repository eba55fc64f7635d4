// Domain errors that carry the exit code the CLI turns them into. Only
// src/cli/main.ts catches them; everything else just throws.

import { ExitCode } from "./exit_codes.ts";

/** A user-facing failure: printed as one line, never with a stack trace. */
export class AppserveError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad configuration (file, environment or values): exit 1. */
export class ConfigError extends AppserveError {
  constructor(message: string) {
    super(message, ExitCode.CONFIG_ERROR);
  }
}

/** Bad command-line usage (unknown flag, missing argument): exit 2. */
export class UsageError extends AppserveError {
  constructor(message: string) {
    super(message, ExitCode.USAGE_ERROR);
  }
}

/** The application module cannot be imported or has no usable app: exit 4. */
export class AppLoadError extends AppserveError {
  constructor(message: string) {
    super(message, ExitCode.APP_LOAD_ERROR);
  }
}

/** The master must stop, with a reason (gunicorn's HaltServer) and what a worker said of it. */
export class HaltServer extends AppserveError {
  constructor(message: string, exitCode: number, readonly detail?: string) {
    super(message, exitCode);
  }

  /** The reason and the first line of what the worker said (its file and error), as one line. */
  oneLine(): string {
    const first = (this.detail ?? "").split("\n")[0];
    return first ? `${this.message.replace(/\.$/, "")}: ${first}` : this.message;
  }
}

/** Why the app could not be loaded, as a worker (or a thread, or --check-config) says it. */
export function appLoadFailure(error: unknown): string {
  return error instanceof AppLoadError ? error.message : `Cannot load app: ${firstLine(error)}`;
}

/** First line of an error's message, for one-line reports of foreign errors. */
export function firstLine(error: unknown): string {
  // appserve's own errors are already worded for the user; a foreign error keeps its name.
  const text = error instanceof AppserveError
    ? error.message
    : error instanceof Error
    ? `${error.name}: ${error.message}`
    : String(error);
  return text.split("\n")[0];
}

const OS_REASONS: Record<string, string> = {
  ENOENT: "No such file or directory",
  EACCES: "Permission denied",
  EPERM: "Operation not permitted",
  EISDIR: "Is a directory",
  ENOTDIR: "Not a directory",
  EEXIST: "File exists",
  EROFS: "Read-only file system",
  ENOSPC: "No space left on device",
  // A file with +x that is no program (a truncated download, a script without #!).
  ENOEXEC: "Exec format error (not a program this system can run)",
};

/** strerror's words for a node:fs error; the runtimes word their messages differently. */
export function osReason(error: unknown): string {
  const code = (error as { code?: string }).code;
  return (code && OS_REASONS[code]) ?? firstLine(error);
}
