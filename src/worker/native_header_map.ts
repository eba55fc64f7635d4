// header_map for the native servers of --reuse-port mode, which pass every field on: the policy of
// appserve's own parser (src/http/parser.ts) applied to the Request the native server built.

import { statusReply } from "../http/status_reply.ts";
import type { HeaderMap } from "../http/types.ts";

function refused(): Response {
  return statusReply(400, "underscore in header name (header_map is refuse)");
}

/**
 * Whether a field name of `headers` holds `_`. forEach is the cheapest pass over a native
 * Request's Headers in both runtimes (measured in docs/architecture.md, "Worker classes"), and
 * most requests need no more than this.
 */
export function hasUnderscoreName(headers: Headers): boolean {
  let found = false;
  headers.forEach((_value, name) => {
    if (name.indexOf("_") !== -1) found = true;
  });
  return found;
}

/**
 * Applies header_map to a native server's `request`, whose fields the caller read into `fields`
 * (its Headers' pairs, shared with the proxy-trust check). "drop" removes fields named with `_`
 * from both, "refuse" returns the 400 to send (logged through `warn`), "dangerous" changes nothing.
 */
export function applyHeaderMap(
  request: Request,
  fields: [string, string][],
  mode: HeaderMap,
  ip: string,
  warn: (message: string) => void,
): Request | Response {
  if (mode === "dangerous") return request;
  let found = false;
  for (let i = 0; i < fields.length && !found; i++) found = fields[i][0].indexOf("_") !== -1;
  if (!found) return request;
  if (mode === "refuse") {
    warn(`Invalid request from ip=${ip}: underscore in header name (header_map is refuse) (400)`);
    return refused();
  }
  const headers = new Headers();
  let kept = 0;
  for (const field of fields) {
    if (field[0].indexOf("_") !== -1) continue;
    fields[kept++] = field;
    headers.append(field[0], field[1]);
  }
  fields.length = kept;
  return new Request(request, { headers });
}
