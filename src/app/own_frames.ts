// The stacks an app prints itself (`console.error(err)`, `err.stack` in a body) without
// appserve's frames under the app's, as `deno run`/`deno serve` and `bun` print them: ours are
// no place in the user's code, and they push the user's deeper frames past Error.stackTraceLimit.
// The runtime asks Error.prepareStackTrace for a stack only when one is read (Bun also at
// Error.captureStackTrace), so an error nobody reads and a request that throws nothing cost
// nothing. Bun's inspection (its console, Bun.inspect, an error nested in what is printed) prints
// the frames it keeps itself unless the stack was read, so it reads an error's stack first when
// those frames are appserve's too: only when an error is printed, never on the request path.

import { pathToFileURL } from "node:url";
import { withoutOwn, withoutOwnFrames } from "./user_error.ts";

/** A call site (V8's, or Bun's copy of it), the part of it read here. */
interface CallSite {
  getFileName(): string | null | undefined;
  getLineNumber?(): number | null;
  getColumnNumber?(): number | null;
  isAsync?(): boolean;
  isNative?(): boolean;
  toString(): string;
}

type Prepare = (error: Error, sites: CallSite[]) => unknown;

const ErrorWithHook = Error as unknown as { prepareStackTrace?: Prepare };

/**
 * The sites without appserve's own, and without the runtime's that sit among them (the
 * server's `emit (node:events ...)`): the rule withoutOwnFrames() follows for the stacks
 * appserve logs. Sites of a stack that has none of the user's are all kept.
 */
export function withoutOwnSites<T extends CallSite>(sites: T[]): T[] {
  return withoutOwn(sites, (site) => site.getFileName() ?? "");
}

/** `Name: message` then `    at SITE` lines, as the runtime writes a stack. */
function runtimeStack(error: Error, sites: CallSite[], fileUrls: boolean): string {
  let head: string;
  try {
    head = Error.prototype.toString.call(error);
  } catch {
    head = "Error";
  }
  return head + sites.map((site) => `\n    at ${siteText(site, fileUrls)}`).join("");
}

function siteText(site: CallSite, fileUrls: boolean): string {
  let text = String(site);
  // Bun's call site leaves out what its own stacks say: a builtin's place, an awaiting frame's
  // `async` (V8's says both as its stacks do).
  if (site.isNative?.() && text.endsWith(" (native)")) {
    text = `${text.slice(0, -1)}:${site.getLineNumber?.()}:${site.getColumnNumber?.()})`;
  }
  if (site.isAsync?.() && !text.startsWith("async ")) text = `async ${text}`;
  const file = site.getFileName();
  if (!fileUrls || !file?.startsWith("/")) return text;
  // The call site names a path where Deno's own stacks name its file URL.
  return text.replace(`${file}:`, `${pathToFileURL(file).href}:`);
}

/** Bun's own Error.prepareStackTrace (Deno has none): the runtime's stacks, not an app's hook. */
const isRuntimes = (hook: Prepare) =>
  Function.prototype.toString.call(hook).includes("[native code]");

/** Reads the stacks of `value` and of the errors in it, so that the hook makes them. */
function readStacks(value: unknown, depth = 0): void {
  if (!(value instanceof Error) || depth > 8) return;
  try {
    void value.stack;
    readStacks(value.cause, depth + 1);
    if (value instanceof AggregateError) {
      for (const error of value.errors) readStacks(error, depth + 1);
    }
  } catch {
    // An error whose stack or errors throw: printed as the runtime prints it.
  }
}

// The hook every inspection of an error calls (Bun's console, Bun.inspect, node:util's inspect),
// the error on its own or nested in what is printed.
const INSPECT = Symbol.for("nodejs.util.inspect.custom");

/**
 * Has the runtime's inspection print the hook's stack of an error it would print with appserve's
 * frames. Only then: Bun prints a stack read before as its text, without the `async` of awaiting
 * frames and with the runtime's frames under them. An error of a class with an inspection of its
 * own is printed as that says.
 */
function stacksReadFirst(printed: (error: Error) => string): void {
  let checking = false;
  const hasOwn = (error: Error) => {
    checking = true;
    try {
      const text = printed(error);
      return withoutOwnFrames(text) !== text;
    } catch {
      return false;
    } finally {
      checking = false;
    }
  };
  Object.defineProperty(Error.prototype, INSPECT, {
    configurable: true,
    writable: true,
    enumerable: false,
    // Returning the error itself has it printed as the runtime prints errors.
    value: function inspect(this: unknown): unknown {
      if (!checking && this instanceof Error && hasOwn(this)) readStacks(this);
      return this;
    },
  });
}

let installed = false;

/**
 * Has stacks made from now on in this process or thread leave out appserve's frames under the
 * user's. A hook of the app's, set before or after (source-map-support's), is given the sites
 * that are left: Error.prepareStackTrace reads as that hook wrapped, and setting back what was
 * read (the callsites package's way) sets back the app's hook; undefined sets the runtime's
 * stacks. `printedError` is what the runtime's console prints for an error whose stack was not
 * read, when that is not err.stack (Runtime.printedError).
 */
export function hideOwnFrames(printedError: ((error: Error) => string) | null = null): void {
  if (installed) return;
  installed = true;
  // As the runtime writes its stacks before the hook: Deno names file URLs, Bun paths.
  const fileUrls = /^ +at .*file:\/\//m.test(new Error().stack ?? "");
  // Leaving out sites twice leaves out nothing more: hooks that call the one they read are fine.
  const own: Prepare = (error, sites) => runtimeStack(error, withoutOwnSites(sites), fileUrls);
  const wrapped = new WeakMap<Prepare, Prepare>();
  const unwrapped = new WeakMap<Prepare, Prepare>();
  const wrap = (hook: Prepare): Prepare => {
    let wrapper = wrapped.get(hook);
    if (wrapper === undefined) {
      wrapper = (error, sites) => hook(error, withoutOwnSites(sites));
      wrapped.set(hook, wrapper);
      unwrapped.set(wrapper, hook);
    }
    return wrapper;
  };
  const before = ErrorWithHook.prepareStackTrace;
  let current = typeof before === "function" && !isRuntimes(before) ? wrap(before) : own;
  // Bun calls the hook last assigned (it keeps it apart, where the property below does not
  // reach); V8 reads the property at each stack. Both end at `current`.
  ErrorWithHook.prepareStackTrace = (error, sites) => current(error, sites);
  Object.defineProperty(Error, "prepareStackTrace", {
    configurable: true,
    get: () => current,
    set: (value: unknown) => {
      if (typeof value !== "function" || value === own) current = own;
      else current = wrap(unwrapped.get(value as Prepare) ?? (value as Prepare));
    },
  });
  if (printedError) stacksReadFirst(printedError);
}
