// What an error log says of a thrown value: its stack, or what else it has to say, then its
// causes as Deno prints them. Bun gives some errors an empty stack (the AbortError of a body
// read whose client left): the line must still name the error, not end blank. A stack through
// the user's code shows the user's frames without appserve's own (the bundle's minified names
// say nothing to the user), as a load error's report does.

import { causeChain, isErrorLike } from "../app/error_causes.ts";
import { withoutOwnFrames } from "../app/user_error.ts";

/**
 * The stack of `error` (without appserve's frames when it has the user's), else `Name: message`,
 * else a text naming what was thrown; then a `Caused by:` line and stack for each cause.
 */
export function errorDetail(error: unknown): string {
  const chain = causeChain(error, oneError);
  const own = isErrorLike(error) ? oneError(error) : thrownValue(error);
  return chain ? `${own}\n${chain}` : own;
}

function oneError(error: Error): string {
  const { name, message, stack } = error;
  if (typeof stack === "string" && stack.trim() !== "") return withoutOwnFrames(stack);
  const head = String(name || "Error");
  return message ? `${head}: ${message}` : `${head} (no message or stack)`;
}

function thrownValue(value: unknown): string {
  if (typeof value === "string") return value === "" ? "(an empty string was thrown)" : value;
  if (value === undefined || value === null) return `${value} (a value with no message or stack)`;
  try {
    return String(value);
  } catch {
    return "(a value that cannot be shown)";
  }
}
