// The native server's `info` with some of its members replaced, for the wrappers of --reuse-port
// mode (a trusted proxy's client, a WebSocket upgrade tagged for the access log): every other
// member, Bun's and Deno's alike, stays the native info's own, so a wrapper cannot lose one.

import type { ServeInfo } from "../fetch_handler.ts";

/**
 * `info` with `members` in place of its own. A Proxy, since the native infos keep #private fields
 * that an object inheriting from them could not reach: their getters and methods run on the
 * original.
 */
export function infoWith(info: ServeInfo, members: Partial<ServeInfo>): ServeInfo {
  return new Proxy(info, {
    get(target, key) {
      if (Object.hasOwn(members, key)) return members[key as keyof ServeInfo];
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
