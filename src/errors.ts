// Domain errors that carry the exit code the CLI turns them into. Only
// src/cli/main.ts catches them; everything else just throws.

import { ExitCode } from "./cli/exit_codes.ts";

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

/** The master must stop, with a reason (gunicorn's HaltServer). */
export class HaltServer extends AppserveError {}

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
