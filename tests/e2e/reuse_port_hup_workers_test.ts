// HUPs under keep-alive load with --reuse-port and two workers. With one worker
// (reuse_port_drain_test.ts) none is lost; with two, the first old worker's drain answers
// `Connection: close`, its clients reconnect, and the kernel may queue their new connections on
// the other old worker's listener, still open until its own stop begins a moment later: reset
// there (wrk: read errors, each a request sent on a fresh connection), unless the kernel moves
// them to a listener still open (net.ipv4.tcp_migrate_req = 1, Linux 5.14). The master says so at
// start when it is 0; with it at 1 the HUPs lose nothing. (With it at 0 this load lost 3-6 requests
// in 3 HUPs on every target.)

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { e2e, eventually, FIXTURES, load, start } from "../_helpers.ts";
import { freePort } from "../_procs.ts";

const APP = join(FIXTURES, "apps", "pid_app.ts");
const SYSCTL = "/proc/sys/net/ipv4/tcp_migrate_req";
const NOTE = /\[INFO\] --reuse-port: net\.ipv4\.tcp_migrate_req is 0, so each restart resets/;

/** The network namespace's tcp_migrate_req, or undefined where it cannot be read (before 5.14). */
function readMigrate(): string | undefined {
  try {
    return readFileSync(SYSCTL, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** Sets it; false where it cannot be (not root, /proc/sys read-only). */
function setMigrate(value: string): boolean {
  try {
    writeFileSync(SYSCTL, value);
    return true;
  } catch {
    return false;
  }
}

// The setting is the whole namespace's: the test only ever turns it on (what the master advises;
// other --reuse-port tests running meanwhile only lose less), and back off if it found it off.
e2e(
  "HUPs under keep-alive load with --reuse-port and 2 workers lose no request (tcp_migrate_req)",
  async (t) => {
    const original = readMigrate();
    if (original === undefined) {
      console.warn(`skipped: no ${SYSCTL} here (Linux before 5.14)`);
      return;
    }
    if (original === "0") {
      // At 0 the master says what it costs and what to do.
      const said = start(t, [
        "-w",
        "1",
        "--reuse-port",
        "-b",
        `127.0.0.1:${await freePort()}`,
        APP,
      ]);
      await said.ready(1);
      await said.stop();
      assert.match(said.output, NOTE);
      if (!setMigrate("1")) {
        console.warn(`skipped: ${SYSCTL} cannot be written here`);
        return;
      }
    }
    try {
      const port = await freePort();
      // --keep-alive past the load: only the stops may close a kept-alive connection.
      const server = start(t, [
        ...["-w", "2", "--reuse-port", "--keep-alive", "30"],
        ...["-b", `127.0.0.1:${port}`, APP],
      ]);
      const url = await server.ready(2);
      assert.doesNotMatch(server.output, NOTE);
      const running = load(url, 10, { connections: 16 });
      for (let hup = 1; hup <= 3; hup++) {
        server.signal("SIGHUP");
        // Each generation booted before the next HUP: no worker is stopped while it boots.
        await eventually(
          () => server.all(/Booting worker with pid/g).length === 2 * (hup + 1),
          `generation ${hup + 1} booted`,
        );
        await eventually(
          () => server.all(/Worker exiting/g).length === 2 * hup,
          `generation ${hup} gone`,
        );
      }
      const result = await running.done;
      assert.ok(result.requests > 0, result.report);
      const stopped = await server.stop();
      assert.equal(result.failed, 0, result.report + stopped.stderr);
    } finally {
      if (original === "0") setMigrate("0");
    }
  },
);
