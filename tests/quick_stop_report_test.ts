// The one line a quick stop writes for the connections it closed with no request read yet
// (src/ipc/quick_stop_report.ts): none for none, and singular and plural read as sentences.

import assert from "node:assert/strict";
import { logQuickStopUnparsed } from "../src/ipc/quick_stop_report.ts";
import { Logger } from "../src/log/logger.ts";

/** A Logger that keeps its warnings. */
class Recording extends Logger {
  said: string[] = [];
  override warning(message: string): void {
    this.said.push(message);
  }
}

Deno.test("logQuickStopUnparsed() writes one line, or none for no connection", () => {
  const log = new Recording();
  const where = "worker (pid:42)";
  logQuickStopUnparsed(log, where, { connections: 0, partial: 0 });
  logQuickStopUnparsed(log, where, { connections: 1, partial: 0 });
  logQuickStopUnparsed(log, where, { connections: 1, partial: 1 });
  logQuickStopUnparsed(log, where, { connections: 1000, partial: 0 });
  logQuickStopUnparsed(log, where, { connections: 3, partial: 2 });
  const lead = "Killed by the quick stop on worker (pid:42): ";
  assert.deepEqual(log.said, [
    `${lead}a connection with no request read yet`,
    `${lead}a connection with no request read yet (part of one received)`,
    `${lead}1000 connections with no request read yet`,
    `${lead}3 connections with no request read yet (2 with part of one received)`,
  ]);
});
