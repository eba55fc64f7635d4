// The access lines written for requests their worker or gthread thread could not log itself
// (src/ipc/inflight_report.ts), in a Deno and in a Bun process: each names the method the client
// sent, whatever the runtime's Request makes of it.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DENO, ROOT, tempDir } from "./_helpers.ts";
import { PATHS } from "./_procs.ts";

const BUN = join(ROOT, PATHS.bun);

const probe = (log: string) => `
import { Logger } from ${JSON.stringify(join(ROOT, "mod.ts"))};
import { logInflightAccess } from ${JSON.stringify(join(ROOT, "src/ipc/inflight_report.ts"))};
const log = new Logger({ accessLog: ${JSON.stringify(log)} });
const request = (method, target) => ({ method, target, client: "10.0.0.4:77", start: 1000, entry: -1 });
logInflightAccess(log, [
  request("GET", "/a"),
  request("PROPFIND", "/b"),
  request("FOO", "/c"),
  request("CONNECT", "/d"),
  request("-", "-"),
], 2000, [503, 503, 503, 503, 503]);
await log.close();
`;

// A request whose entry kept the format's headers, user and protocol, written by a master for
// its worker 4242: the line reads as the app's would have.
const fieldsProbe = (log: string) => `
import { Logger } from ${JSON.stringify(join(ROOT, "mod.ts"))};
import { logInflightAccess } from ${JSON.stringify(join(ROOT, "src/ipc/inflight_report.ts"))};
const log = new Logger({
  accessLog: ${JSON.stringify(log)},
  accessFormat: '%(p)s %(u)s "%(r)s" %(H)s "%(f)s" "%(a)s" %({x-request-id}i)s %({x-other}i)s',
});
logInflightAccess(log, [{
  method: "GET",
  target: "/a",
  client: "10.0.0.4:77",
  start: 1000,
  entry: 0,
  protocol: "HTTP/1.0",
  headers: [["referer", "http://r/"], ["user-agent", 'my "ua"'], ["x-request-id", "abc"]],
  user: "bob",
}], 2000, [502], 4242);
await log.close();
`;

for (
  const [runtime, command, args] of [
    ["Deno", DENO, ["run", "-A"]],
    ["Bun", BUN, []],
  ] as const
) {
  Deno.test(`${runtime}: logInflightAccess() writes the method each request came with`, async () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, "probe.mjs");
      const log = join(dir.path, "access.log");
      writeFileSync(file, probe(log));
      const { code, stderr } = await new Deno.Command(command, { args: [...args, file] }).output();
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      const lines = readFileSync(log, "utf8").split("\n").filter(Boolean);
      assert.deepEqual(lines.map((line) => / "([^"]*)" 503 - /.exec(line)?.[1]), [
        "GET /a HTTP/1.1",
        "PROPFIND /b HTTP/1.1",
        "FOO /c HTTP/1.1",
        "CONNECT /d HTTP/1.1",
        "- - HTTP/1.1",
      ]);
      assert.ok(lines.every((line) => line.startsWith("10.0.0.4 ")), lines.join("\n"));
    } finally {
      dir.remove();
    }
  });
}

for (
  const [runtime, command, args] of [
    ["Deno", DENO, ["run", "-A"]],
    ["Bun", BUN, []],
  ] as const
) {
  Deno.test(`${runtime}: logInflightAccess() writes the headers, user, protocol and pid kept`, async () => {
    const dir = tempDir();
    try {
      const file = join(dir.path, "probe.mjs");
      const log = join(dir.path, "access.log");
      writeFileSync(file, fieldsProbe(log));
      const { code, stderr } = await new Deno.Command(command, { args: [...args, file] }).output();
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      assert.equal(
        readFileSync(log, "utf8"),
        '<4242> bob "GET /a HTTP/1.0" HTTP/1.0 "http://r/" "my \\"ua\\"" abc -\n',
      );
    } finally {
      dir.remove();
    }
  });
}

Deno.test("clientOf() leaves out a port nobody knows (X-Forwarded-For); the access line reads it back", async () => {
  const { clientOf } = await import("../src/ipc/inflight_report.ts");
  const tcp = (hostname: string, port: number) => ({ transport: "tcp" as const, hostname, port });
  assert.equal(clientOf(tcp("10.0.0.9", 0)), "10.0.0.9");
  assert.equal(clientOf(tcp("2001:db8::1", 0)), "[2001:db8::1]");
  assert.equal(clientOf(tcp("10.0.0.9", 5)), "10.0.0.9:5");
  assert.equal(clientOf(tcp("::1", 5)), "[::1]:5");
  assert.equal(clientOf({ transport: "unix", hostname: "", port: 0 }), "unix");
  const dir = tempDir();
  try {
    const file = join(dir.path, "probe.mjs");
    const log = join(dir.path, "access.log");
    writeFileSync(
      file,
      `
import { Logger } from ${JSON.stringify(join(ROOT, "mod.ts"))};
import { logInflightAccess } from ${JSON.stringify(join(ROOT, "src/ipc/inflight_report.ts"))};
const log = new Logger({ accessLog: ${JSON.stringify(log)}, accessFormat: "%(h)s" });
const request = (client) => ({ method: "GET", target: "/", client, start: 1000, entry: -1 });
logInflightAccess(log, ["10.0.0.9", "[2001:db8::1]", "10.0.0.9:5", "[::1]:5", "unix"].map(request), 2000);
await log.close();
`,
    );
    const { code, stderr } = await new Deno.Command(DENO, { args: ["run", "-A", file] }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.equal(readFileSync(log, "utf8"), "10.0.0.9\n2001:db8::1\n10.0.0.9\n::1\n\n");
  } finally {
    dir.remove();
  }
});
