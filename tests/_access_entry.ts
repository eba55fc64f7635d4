// A finished request as the HTTP layer hands it to Logger.access(), for the logger's unit tests.

import type { AccessEntry } from "../src/log/logger.ts";

/** GET `target` from 10.0.0.7:5000 by user agent "t/1", answered `status` with 12 body bytes. */
export function accessEntry(target: string, status = 200): AccessEntry {
  return {
    request: new Request(`http://localhost${target}`, { headers: { "user-agent": "t/1" } }),
    response: new Response(null, { status }),
    details: {
      remote: { transport: "tcp", hostname: "10.0.0.7", port: 5000 },
      protocol: "HTTP/1.1",
      target,
      bodyBytes: 12,
    },
    durationMs: 1.5,
    end: new Date(),
  };
}
