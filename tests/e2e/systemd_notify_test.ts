// systemd's Type=notify, with a unix datagram socket of the test's own as NOTIFY_SOCKET (what
// systemd listens on): the master's datagrams in order, the watchdog, MAINPID after USR2, and a
// NOTIFY_SOCKET that names no socket (a warning, as gunicorn ignores it).

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  alive,
  childPids,
  e2e,
  eventually,
  FIXTURES,
  get,
  hasStackTrace,
  start,
  tempDir,
} from "../_helpers.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const ENV_APP = join(FIXTURES, "apps", "env_app.ts");

/** A unix datagram socket collecting what is sent to it, as systemd's notify socket does. */
function notifySocket(path: string): { messages: string[]; close: () => void } {
  const conn = Deno.listenDatagram({ transport: "unixpacket", path });
  const messages: string[] = [];
  (async () => {
    for await (const [data] of conn) messages.push(new TextDecoder().decode(data));
  })().catch(() => {});
  return { messages, close: () => conn.close() };
}

/** Whether `wanted` occur in `messages` in this order (other messages between them allowed). */
function inOrder(messages: string[], wanted: RegExp[]): boolean {
  let at = 0;
  for (const message of messages) if (at < wanted.length && wanted[at].test(message)) at++;
  return at === wanted.length;
}

e2e(
  "Type=notify: READY=1 once the workers boot, RELOADING=1/READY=1 around HUP, STATUS=, STOPPING=1",
  async (target) => {
    const dir = tempDir();
    const socket = notifySocket(join(dir.path, "notify"));
    try {
      const env = { NOTIFY_SOCKET: join(dir.path, "notify"), WATCHDOG_USEC: "400000" };
      const server = start(target, ["-w", "2", "-b", "127.0.0.1:0", ENV_APP], { env });
      const url = await server.ready(2);
      await eventually(() => socket.messages.some((m) => /^READY=1$/m.test(m)), "READY=1");
      // READY=1 comes once both workers have said they serve.
      const ready = socket.messages.find((m) => /^READY=1$/m.test(m))!;
      assert.match(ready, /^STATUS=2 workers$/m);
      assert.equal(server.all(/Booting worker with pid/g).length, 2);
      // Workers, and what the app starts, are no part of the protocol.
      const seen = await get(`${url}/env?name=NOTIFY_SOCKET&name=WATCHDOG_USEC`);
      assert.deepEqual(JSON.parse(seen.body).app, { NOTIFY_SOCKET: null, WATCHDOG_USEC: null });
      await eventually(
        () => socket.messages.filter((m) => m === "WATCHDOG=1").length >= 2,
        "two WATCHDOG=1",
      );
      const before = socket.messages.length;
      server.signal("SIGHUP");
      await eventually(
        () => inOrder(socket.messages.slice(before), [/^RELOADING=1$/m, /^READY=1$/m]),
        "RELOADING=1 then READY=1",
      );
      await eventually(() => socket.messages.at(-1) !== undefined, "status");
      assert.equal((await server.stop()).code, 0);
      await eventually(() => socket.messages.includes("STOPPING=1"), "STOPPING=1");
      const order = [/^READY=1$/m, /^RELOADING=1$/m, /^READY=1$/m, /^STOPPING=1$/m];
      assert.ok(inOrder(socket.messages, order), socket.messages.join(" | "));
      // After the HUP the old generation retired: two workers again.
      const statuses = socket.messages.filter((m) => m.startsWith("STATUS="));
      assert.ok(statuses.includes("STATUS=2 workers"), statuses.join(" | "));
    } finally {
      socket.close();
      dir.remove();
    }
  },
);

for (const rollback of [false, true]) {
  e2e(
    rollback
      ? "Type=notify: after a USR2 rollback (HUP old, TERM new) the old master says MAINPID= again"
      : "Type=notify: a USR2 child says MAINPID= once promoted, READY=1 before",
    async (target) => {
      const dir = tempDir();
      const socket = notifySocket(join(dir.path, "notify"));
      const pids: number[] = [];
      const said = () => socket.messages.join(" | ");
      const readies = () => socket.messages.filter((m) => /^READY=1$/m.test(m)).length;
      try {
        const env = { NOTIFY_SOCKET: join(dir.path, "notify") };
        const old = start(target, ["-w", "1", "-b", "127.0.0.1:0", PID_APP], { env });
        pids.push(old.pid);
        await old.ready(1);
        await eventually(() => readies() === 1, "READY=1");
        assert.ok(!socket.messages.some((m) => m.includes("MAINPID=")), said());
        old.signal("SIGUSR2");
        const next = Number((await old.waitFor(/Started new master with pid: (\d+)/))[1]);
        pids.push(next);
        // The child serves and says so, but while its parent runs the service's main process is
        // the parent: systemd would stop the unit when a MAINPID it was told exits.
        await eventually(() => readies() === 2, "READY=1 from the new master");
        assert.ok(!socket.messages.some((m) => m.includes("MAINPID=")), said());
        if (rollback) {
          old.signal("SIGHUP");
          process.kill(next, "SIGTERM");
          await eventually(() => !alive(next), "the new master exits");
          await eventually(
            () => socket.messages.some((m) => m === `MAINPID=${old.pid}\nREADY=1`),
            "MAINPID of the old master again",
          );
          // The new master's stop is not the service's either.
          assert.ok(!socket.messages.includes("STOPPING=1"), said());
          assert.ok(!socket.messages.some((m) => m.includes(`MAINPID=${next}`)), said());
          old.signal("SIGTERM");
          await eventually(() => !alive(old.pid), "the old master stops");
        } else {
          // The old master's stop is not the service's: no STOPPING=1 from it.
          old.signal("SIGTERM");
          await eventually(() => !alive(old.pid), "the old master exits");
          // Said by the old master as it exits, while it still is the main process (its datagram
          // may be read after the exit is seen).
          await eventually(() => socket.messages.includes(`MAINPID=${next}`), said());
          await eventually(
            () => socket.messages.some((m) => m === `MAINPID=${next}\nREADY=1`),
            "MAINPID of the new master, promoted",
          );
          assert.ok(!socket.messages.includes("STOPPING=1"), said());
          process.kill(next, "SIGTERM");
          await eventually(() => !alive(next), "the new master stops");
        }
        await eventually(() => socket.messages.includes("STOPPING=1"), "STOPPING=1");
      } finally {
        for (const pid of pids) {
          for (const p of [pid, ...childPids(pid)]) if (alive(p)) process.kill(p, "SIGKILL");
        }
        socket.close();
        dir.remove();
      }
    },
  );
}

e2e(
  "a NOTIFY_SOCKET that names no socket is one WARNING line; the master serves on, as gunicorn's",
  async (target) => {
    const dir = tempDir();
    try {
      const missing = join(dir.path, "no-such-socket");
      const cases: [string, string][] = [
        [missing, `Cannot connect to "${missing}": No such file or directory`],
        ["notify.sock", `Cannot use "notify.sock": not a unix socket path`],
      ];
      for (const [value, why] of cases) {
        const server = start(target, ["-b", "127.0.0.1:0", PID_APP], {
          env: { NOTIFY_SOCKET: value },
        });
        const url = await server.ready(1);
        assert.match((await get(url)).body, /^hello pid/);
        const result = await server.stop();
        assert.equal(result.code, 0, result.stderr);
        const warnings = result.stderr.split("\n").filter((l) => l.includes("[WARNING]"));
        assert.deepEqual(
          warnings.map((line) => line.replace(/^.*\[WARNING\] /, "")),
          [
            `NOTIFY_SOCKET: ${why}; systemd will not hear READY=1 or any other state; ` +
            "serving on without it",
          ],
          result.stderr,
        );
        assert.ok(!hasStackTrace(result.stderr), result.stderr);
      }
    } finally {
      dir.remove();
    }
  },
);
