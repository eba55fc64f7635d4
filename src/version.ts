// appserve's version; a test keeps it equal to package.json and deno.json.
export const VERSION = "0.1.0";

declare const APPSERVE_BUILD: string | undefined;
/**
 * The commit a binary was built from ("-dirty" with uncommitted changes), defined by the
 * Makefile's `bun build --define`; undefined when running from the sources.
 */
export const BUILD: string | undefined = typeof APPSERVE_BUILD === "string"
  ? APPSERVE_BUILD
  : undefined;
