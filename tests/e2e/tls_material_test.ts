// The master reads the certificate and key and hands them to every worker it starts: files
// broken on disk (certbot between writing the key and the certificate, a key made unreadable)
// cannot stop a worker's start, so a crash or --max-requests recycling never takes the server
// down, and a HUP with a renewed pair still switches certificates. Certificates made with openssl
// at test time.

import assert from "node:assert/strict";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  childPids,
  e2e,
  eventually,
  FIXTURES,
  type Server,
  start,
  type Target,
  tempDir,
} from "../_helpers.ts";
import { curl, datedPair, LivePair, newPki, type TestPki } from "../_tls.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");

async function httpsUrl(server: Server): Promise<string> {
  return (await server.waitFor(/Listening at: (https:\/\/[^ ,]+)/))[1];
}

/** The pid of the worker that answers over TLS with `pki`'s certificate, once one does. */
async function answeringPid(url: string, pki: TestPki): Promise<number> {
  let pid = 0;
  await eventually(async () => {
    const seen = await curl(["--cacert", pki.ca, url]);
    pid = seen.code === 0 ? Number(/pid (\d+)/.exec(seen.stdout)?.[1]) : 0;
    return pid > 0;
  }, "HTTPS");
  return pid;
}

/** Neither the worker's command line nor its environment holds the key. */
function keyHidden(pid: number): void {
  for (const file of ["cmdline", "environ"]) {
    const text = readFileSync(`/proc/${pid}/${file}`, "latin1");
    assert.doesNotMatch(text, /PRIVATE KEY|BEGIN CERTIFICATE/, `/proc/${pid}/${file}`);
  }
}

async function brokenOnDisk(
  target: Target,
  extra: string[],
  replace: (server: Server, url: string, old: TestPki, worker: number) => Promise<void>,
  renewToo = false,
): Promise<void> {
  const dir = tempDir();
  const old = newPki(join(dir.path, "old"));
  const renewed = renewToo ? newPki(join(dir.path, "new")) : undefined;
  const live = new LivePair(dir.path, old);
  const server = start(target, [
    "-w",
    "1",
    "-b",
    "127.0.0.1:0",
    ...live.args,
    ...extra,
    PID_APP,
  ]);
  try {
    const url = await httpsUrl(server);
    const first = await answeringPid(url, old);
    keyHidden(first);
    // Half a renewal: a key that belongs to no certificate here.
    copyFileSync(old.otherKey, live.key);
    // A HUP now fails and keeps the last good pair for every later worker too.
    server.signal("SIGHUP");
    await server.waitFor(/Reload failed, keeping the running workers: keyfile .* does not match/);
    await replace(server, url, old, first);
    const next = await answeringPid(url, old);
    assert.notEqual(next, first, "a replacement worker answers");
    assert.equal(server.child.exitCode, null, "the master runs on");
    assert.doesNotMatch(server.output, /Worker failed to boot/);
    if (renewed) {
      live.install(renewed);
      server.signal("SIGHUP");
      await answeringPid(url, renewed);
      assert.notEqual((await curl(["--cacert", old.ca, url])).code, 0, "the old one is gone");
    }
  } finally {
    assert.equal((await server.stop()).code, 0);
    dir.remove();
  }
}

const killed = async (server: Server, _url: string, _old: TestPki, worker: number) => {
  process.kill(worker, "SIGKILL");
  await eventually(() => !childPids(server.pid).includes(worker), "the worker gone");
};

e2e(
  "a worker killed after the key on disk broke comes back with the master's certificate",
  async (target) => await brokenOnDisk(target, [], killed, true),
);

e2e(
  "--max-requests recycling after the key on disk broke serves on with the old certificate",
  async (target) =>
    await brokenOnDisk(target, ["--max-requests", "3"], async (server, url, old, worker) => {
      for (let i = 0; i < 3; i++) assert.equal((await curl(["--cacert", old.ca, url])).code, 0);
      // Stopped once its replacement has booted.
      await eventually(() => !childPids(server.pid).includes(worker), "the worker recycled");
    }),
);

e2e(
  "gthread: a worker killed after the key on disk broke comes back with the master's certificate",
  async (target) => await brokenOnDisk(target, ["--threads", "2"], killed),
);

/** The master's warnings about a certificate's dates so far. */
function dateWarnings(server: Server): string[] {
  return server.output.match(/\[WARNING\] certfile .*/g) ?? [];
}

e2e(
  "a certificate out of its dates is one warning at start and at each reload, and still serves",
  async (target) => {
    const dir = tempDir();
    const day = 24 * 60 * 60 * 1000;
    const now = Date.now();
    const expired = datedPair(
      join(dir.path, "expired"),
      "expired.test",
      new Date("2020-01-01T00:00:00Z"),
      new Date("2020-01-02T00:00:00Z"),
    );
    const future = datedPair(
      join(dir.path, "future"),
      "future.test",
      new Date("2099-01-01T00:00:00Z"),
      new Date("2099-02-01T00:00:00Z"),
    );
    const soon = datedPair(
      join(dir.path, "soon"),
      "soon.test",
      new Date(now - day),
      new Date(now + 3 * day - 60_000),
    );
    const good = newPki(join(dir.path, "good"));
    const live = new LivePair(dir.path, expired);
    const server = start(target, [
      "-w",
      "1",
      "-b",
      "127.0.0.1:0",
      ...live.args,
      PID_APP,
    ]);
    try {
      const url = await httpsUrl(server);
      await server.waitFor(
        /\[WARNING\] certfile ".*live\.pem" \(subject CN=expired\.test\) expired at 2020-01-02 00:00:00 UTC \(notAfter\)/,
      );
      // Served all the same (nginx and gunicorn do): a client that does not verify gets through.
      await eventually(async () => (await curl(["-k", url])).code === 0, "HTTPS with -k");
      const refused = await curl(["--cacert", expired.cert, url]);
      assert.match(refused.stderr, /expired/);
      live.install(future);
      server.signal("SIGHUP");
      await server.waitFor(
        /certfile ".*live\.pem" \(subject CN=future\.test\) is not valid before 2099-01-01 00:00:00 UTC \(notBefore/,
      );
      live.install(soon);
      server.signal("SIGHUP");
      await server.waitFor(
        /certfile ".*live\.pem" \(subject CN=soon\.test\) expires in 2 days, at .* UTC \(notAfter\)/,
      );
      live.install(good);
      server.signal("SIGHUP");
      await answeringPid(url, good);
      const warnings = dateWarnings(server);
      assert.equal(warnings.length, 3, warnings.join("\n"));
    } finally {
      assert.equal((await server.stop()).code, 0);
      dir.remove();
    }
  },
);
