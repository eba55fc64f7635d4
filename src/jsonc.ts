// The text of a deno.json(c), an import map or a tsconfig.json, read as Deno reads it: comments,
// trailing commas, single-quoted strings and unquoted keys are allowed. The json5 package (a
// superset: it also takes what Deno would refuse, which Deno then says itself when it runs the
// worker) gives the line and column of an error under V8 and JavaScriptCore alike.

import JSON5 from "npm:json5@2.2.3";

/** `text` as an object; throws an Error "FILE:LINE:COL: Cannot parse: WHY" (one line). */
export function parseJsonc(text: string, file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON5.parse(text);
  } catch (error) {
    const { lineNumber, columnNumber, message } = error as {
      lineNumber?: number;
      columnNumber?: number;
      message: string;
    };
    const where = lineNumber === undefined ? "" : `:${lineNumber}:${columnNumber}`;
    const why = message.replace(/^JSON5: /, "").replace(/ at \d+:\d+$/, "");
    throw new Error(`${file}${where}: Cannot parse: ${why}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${file}: Cannot parse: expected an object`);
  }
  return value as Record<string, unknown>;
}
