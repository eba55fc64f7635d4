// What an error log says of a thrown value: its stack, or what else it has to say. Bun gives some
// errors an empty stack (the AbortError of a body read whose client left): the line must still
// name the error, not end blank.

/** The stack of `error`, else `Name: message`, else a text naming what was thrown. */
export function errorDetail(error: unknown): string {
  if (error instanceof Error || isErrorLike(error)) {
    const { name, message, stack } = error as Error;
    if (typeof stack === "string" && stack.trim() !== "") return stack;
    const head = String(name || "Error");
    return message ? `${head}: ${message}` : `${head} (no message or stack)`;
  }
  if (typeof error === "string") return error === "" ? "(an empty string was thrown)" : error;
  if (error === undefined || error === null) return `${error} (a value with no message or stack)`;
  try {
    return String(error);
  } catch {
    return "(a value that cannot be shown)";
  }
}

// A DOMException of another realm, or an object shaped as an error.
function isErrorLike(value: unknown): boolean {
  return typeof value === "object" && value !== null &&
    typeof (value as Error).message === "string" && typeof (value as Error).name === "string";
}
