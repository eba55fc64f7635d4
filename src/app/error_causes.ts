// The `Caused by:` lines under an error's report, as `deno run` prints them: the cause is often
// what says what went wrong (a JSON.parse error wrapped as "could not read settings"). Shared by
// the error log's stacks (src/log/error_detail.ts) and the reports of user errors (user_error.ts),
// which differ only in how one error of the chain is described.

import { inspect } from "node:util";

// A chain longer than this is cut: a cause made on every retry could otherwise fill the log.
const MAX_CAUSES = 16;

/** Whether a cause is told as an error (`Name: message` and a stack) or inspected as a value. */
export function isErrorLike(value: unknown): value is Error {
  return value instanceof Error || (
    typeof value === "object" && value !== null &&
    typeof (value as Error).message === "string" && typeof (value as Error).name === "string"
  );
}

// An error's `cause`; a getter that throws is taken for none, and so is `undefined` (Bun's
// AggregateError of a file's syntax errors has its own `cause: undefined`, which says nothing).
function causeOf(error: Error): { cause: unknown } | undefined {
  try {
    return "cause" in error && error.cause !== undefined ? { cause: error.cause } : undefined;
  } catch {
    return undefined;
  }
}

function shown(value: unknown): string {
  try {
    return inspect(value, { depth: 4, breakLength: Infinity });
  } catch {
    return "(a value that cannot be shown)";
  }
}

/**
 * `Caused by: ...` for each cause under `error`, nested causes too, each error described by
 * `describe` and any other value inspected; "" when there is none. A cause met again (a cycle)
 * is named `[Circular]` and ends the chain.
 */
export function causeChain(error: unknown, describe: (cause: Error) => string): string {
  const lines: string[] = [];
  const seen = new Set<unknown>([error]);
  let current = error;
  while (isErrorLike(current)) {
    const link = causeOf(current);
    if (link === undefined) break;
    const { cause } = link;
    if (seen.has(cause)) {
      lines.push("Caused by: [Circular]");
      break;
    }
    if (lines.length === MAX_CAUSES) {
      lines.push("Caused by: ... (more causes not shown)");
      break;
    }
    seen.add(cause);
    lines.push(`Caused by: ${isErrorLike(cause) ? describe(cause) : shown(cause)}`);
    current = cause;
  }
  return lines.join("\n");
}
