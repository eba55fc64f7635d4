// What an in-flight entry keeps of each request for the access line written when the app cannot
// answer it (inflight.ts): the request-side atoms of the access-log format, worked out
// once at start-up by the worker that writes the entries. Nothing when the format shows none of
// them, or when no access line is written at all.

import { ATOM_PATTERN } from "../log/access_format.ts";
import { accessRoute } from "../log/logging_table.ts";
import type { Logger } from "../log/logger.ts";
import { type InflightFields, NO_INFLIGHT_FIELDS } from "./inflight.ts";

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/** The fields `format` (text or `--log-format json`: the same atoms) shows of a request. */
export function inflightFields(format: string): InflightFields {
  const headers: string[] = [];
  // A name no header can have reads `-` in any line; Headers.get() would throw on it.
  const header = (name: string) => {
    if (TOKEN.test(name) && !headers.includes(name)) headers.push(name);
  };
  let user = false;
  let protocol = false;
  for (const m of format.matchAll(ATOM_PATTERN)) {
    const atom = m[1];
    if (atom === "f") header("referer");
    else if (atom === "a") header("user-agent");
    else if (atom === "u") user = true;
    else if (atom === "r" || atom === "H") protocol = true;
    else if (atom !== undefined && /^\{.+\}i$/.test(atom)) header(atom.slice(1, -2).toLowerCase());
  }
  // The header itself gives the user too.
  if (headers.includes("authorization")) user = false;
  return { headers, user, protocol };
}

/** What a worker's entries keep: the fields of its access-log format, none with the log off. */
export function accessInflightFields(
  log: Logger,
  config: Parameters<typeof accessRoute>[0],
): InflightFields {
  return log.accessEnabled ? inflightFields(accessRoute(config).format) : NO_INFLIGHT_FIELDS;
}
