// The stacks an app prints itself (`console.error(err)`, `err.stack` in a body) without
// appserve's frames under the app's, as `deno run`/`deno serve` print them: ours are no
// place in the user's code, and they push the user's deeper frames past Error.stackTraceLimit.
// V8 asks Error.prepareStackTrace for a stack only when one is read, so an error nobody reads
// and a request that throws nothing cost nothing. Bun's console prints the frames it keeps
// itself, not the stack this makes, so only Deno uses it (Runtime.ownFramesHook).

import { pathToFileURL } from "node:url";
import { withoutOwn } from "./user_error.ts";

/** V8's call site, the part of it read here. */
interface CallSite {
  getFileName(): string | null | undefined;
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

/** `Name: message` then `    at SITE` lines, as Deno writes a stack (file URLs, not paths). */
function denoStack(error: Error, sites: CallSite[]): string {
  let head: string;
  try {
    head = Error.prototype.toString.call(error);
  } catch {
    head = "Error";
  }
  return head + sites.map((site) => `\n    at ${siteText(site)}`).join("");
}

function siteText(site: CallSite): string {
  const text = String(site);
  const file = site.getFileName();
  if (!file?.startsWith("/")) return text;
  // The call site names a path where Deno's own stacks name its file URL.
  return text.replace(`${file}:`, `${pathToFileURL(file).href}:`);
}

let installed = false;

/**
 * Has stacks made from now on in this process or thread leave out appserve's frames under the
 * user's. A hook of the app's, set before or after (source-map-support's), is given the sites
 * that are left: Error.prepareStackTrace reads as that hook wrapped, and setting back what was
 * read (the callsites package's way) sets back the app's hook; undefined sets Deno's stacks.
 */
export function hideOwnFrames(): void {
  if (installed) return;
  installed = true;
  // Leaving out sites twice leaves out nothing more: hooks that call the one they read are fine.
  const deno: Prepare = (error, sites) => denoStack(error, withoutOwnSites(sites));
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
  let current = typeof before === "function" ? wrap(before) : deno;
  Object.defineProperty(Error, "prepareStackTrace", {
    configurable: true,
    // What V8 reads to make each stack.
    get: () => current,
    set: (value: unknown) => {
      if (typeof value !== "function" || value === deno) current = deno;
      else current = wrap(unwrapped.get(value as Prepare) ?? (value as Prepare));
    },
  });
}
