// What the WebSocket end-to-end tests share: which appserve targets still await the WebSocket
// implementation (issue 18), and the per-target registration that shows those as "ignored" in
// the test summary instead of letting them pass.

import { type Target, TARGETS } from "./_helpers.ts";

/**
 * appserve targets whose WebSocket support is not merged yet: their tests are registered but
 * ignored (deno test lists them as "ignored"), and scripts/ws_hostile_report.ts leaves their
 * columns as "pending". Empty this list when the implementation lands; nothing else changes.
 */
export const APPSERVE_WS_PENDING: readonly Target["name"][] = [];

/** One test per target, "[deno] name" …; ignored for the targets still pending. */
export function wsE2e(name: string, fn: (target: Target) => Promise<void>): void {
  for (const target of TARGETS) {
    Deno.test({
      name: `[${target.name}] ${name}`,
      ignore: APPSERVE_WS_PENDING.includes(target.name),
      fn: () => fn(target),
      sanitizeOps: false,
      sanitizeResources: false,
    });
  }
}

/** One test per target whose workers run on `workers` ("[binary] name" ...). */
export function e2eOn(
  workers: Target["workers"],
  name: string,
  fn: (t: Target) => Promise<void>,
): void {
  for (const target of TARGETS.filter((t) => t.workers === workers)) {
    Deno.test({
      name: `[${target.name}] ${name}`,
      fn: () => fn(target),
      sanitizeOps: false,
      sanitizeResources: false,
    });
  }
}
