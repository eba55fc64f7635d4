// Parses APP_MODULE (`PATH[:EXPR]`) without touching the disk, so both the
// master (which never imports app code) and the workers can validate it.

/** A parsed APP_MODULE. */
export interface AppSpec {
  /** File path or bare module name, as given. */
  path: string;
  /** Attribute chain to follow from the module (`["api", "v1"]`); empty = default/app. */
  names: string[];
  /** JSON-literal arguments when EXPR is a factory call, else undefined. */
  args?: unknown[];
  /** EXPR as written, for messages. */
  expr: string;
}

/** APP_MODULE cannot be parsed. */
export class AppSpecError extends Error {}

const NAME = /^[A-Za-z_$][\w$]*$/;

/**
 * Parses `PATH[:EXPR]`: EXPR is an export name, a dotted attribute path, or a
 * factory call with JSON-literal arguments.
 *
 * @example
 * ```ts
 * parseAppSpec('app.ts:createApp({"debug":true})');
 * // { path: "app.ts", names: ["createApp"], args: [{ debug: true }], expr: ... }
 * ```
 */
export function parseAppSpec(text: string): AppSpec {
  const colon = text.indexOf(":");
  const path = colon === -1 ? text : text.slice(0, colon);
  const expr = colon === -1 ? "" : text.slice(colon + 1).trim();
  if (path === "") throw new AppSpecError(`Invalid APP_MODULE "${text}": missing module path`);
  if (colon !== -1 && expr === "") {
    throw new AppSpecError(`Invalid APP_MODULE "${text}": nothing after ":"`);
  }
  if (expr === "") return { path, names: [], expr };
  const open = expr.indexOf("(");
  const dotted = open === -1 ? expr : expr.slice(0, open).trim();
  const names = dotted.split(".");
  if (!names.every((n) => NAME.test(n))) {
    throw new AppSpecError(
      `Failed to parse "${expr}" as an attribute name or function call`,
    );
  }
  if (open === -1) return { path, names, expr };
  if (!expr.endsWith(")")) {
    throw new AppSpecError(`Failed to parse "${expr}" as a function call: missing ")"`);
  }
  const inner = expr.slice(open + 1, -1).trim();
  let args: unknown[];
  try {
    args = JSON.parse(`[${inner}]`);
  } catch {
    throw new AppSpecError(
      `Failed to parse arguments of "${expr}" as JSON literals`,
    );
  }
  return { path, names, args, expr };
}
