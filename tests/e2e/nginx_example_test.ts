// The README's deployment, end to end: its mod.ts, its appserve command (the binary, and the same
// arguments under `deno run`) and examples/nginx/appserve.conf as shipped (only paths, the port
// and the log folder substituted), with nginx's workers running as nobody as a distribution's
// nginx runs them. Checks the answer, the client the app sees, and the access log line.

import assert from "node:assert/strict";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { shellSplit } from "../../src/config/_shell_split.ts";
import { e2e, eventually, get, getWhenReady, ROOT, start, tempDir } from "../_helpers.ts";
import { nginxTest, startNginx, writeNginxConfig } from "../_nginx.ts";
import { freePort } from "../_helpers.ts";

const README = readFileSync(join(ROOT, "README.md"), "utf8");
const EXAMPLE = readFileSync(join(ROOT, "examples", "nginx", "appserve.conf"), "utf8");
/** Where the README and the example put the socket. */
const SHIPPED_SOCKET = "/run/app.sock";

/** The code blocks of the README's "Behind nginx" section, by language. */
function readmeBlocks(): Record<string, string[]> {
  const section = README.split(/^## /m).find((s) => s.startsWith("Behind nginx"));
  assert.ok(section, 'README has a "Behind nginx" section');
  const blocks: Record<string, string[]> = {};
  for (const m of section.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)) {
    (blocks[m[1]] ??= []).push(m[2]);
  }
  return blocks;
}

/** The README's appserve command, as words after "appserve". */
function readmeCommand(): string[] {
  const line = readmeBlocks().sh.flatMap((b) => b.split("\n")).find((l) =>
    l.startsWith("appserve ")
  );
  assert.ok(line, "README shows an appserve command");
  return shellSplit(line).slice(1);
}

/** The example file as shipped, with this test's socket, port and log folder. */
function example(socket: string, port: number, dir: string): string {
  for (const shipped of [`unix:${SHIPPED_SOCKET}`, "listen 80;", "/var/log/nginx/"]) {
    assert.ok(EXAMPLE.includes(shipped), `the example has ${shipped}`);
  }
  return EXAMPLE.replaceAll(`unix:${SHIPPED_SOCKET}`, `unix:${socket}`)
    .replace("listen 80;", `listen 127.0.0.1:${port};`)
    .replaceAll("/var/log/nginx/", `${dir}/`);
}

Deno.test("the README's nginx block says what examples/nginx/appserve.conf does", () => {
  const [block] = readmeBlocks().nginx;
  const normal = (text: string) =>
    text.replace(/#.*$/gm, "").replace(/\s+/g, " ").replace(/ ?([{};]) ?/g, "$1");
  const example = normal(EXAMPLE);
  for (const directive of normal(block).split(/[{};]/).map((d) => d.trim())) {
    if (!directive || /^(server|location \/|upstream appserve|listen 80)$/.test(directive)) {
      continue;
    }
    assert.ok(example.includes(`${directive};`), `examples/nginx/appserve.conf has "${directive}"`);
  }
  // The command the example's header names is the README's.
  assert.ok(EXAMPLE.includes(`appserve ${readmeCommand().join(" ")}`));
});

e2e("the README's deployment behind nginx (workers as nobody) answers as shipped", async (t) => {
  const dir = tempDir();
  const socket = join(dir.path, "app.sock");
  try {
    writeFileSync(join(dir.path, "mod.ts"), readmeBlocks().ts[0]);
    const args = readmeCommand().map((w) => w.replace(SHIPPED_SOCKET, socket));
    assert.ok(args.includes(`unix:${socket}`));
    const server = start(t, args, { cwd: dir.path });
    const port = await freePort();
    writeFileSync(join(dir.path, "appserve.conf"), example(socket, port, dir.path));
    const block = () => `http {\n  include ${dir.path}/appserve.conf;\n}`;
    const config = writeNginxConfig(dir.path, block());
    const checked = nginxTest(config, dir.path);
    assert.ok(checked.ok, checked.output);
    await server.waitFor(/Listening at: unix:/);
    // The socket nginx's workers (nobody) connect to: appserve's default umask 0.
    assert.equal(statSync(socket).mode & 0o777, 0o777);
    const nginx = await startNginx(dir.path, block, [], port);
    try {
      const url = `http://127.0.0.1:${port}/`;
      // From 127.0.0.2: the client nginx sees, told to appserve in X-Forwarded-For.
      const answer = await getWhenReady(url, { localAddress: "127.0.0.2" });
      assert.equal(answer.status, 200, answer.body);
      assert.equal(answer.body, "hello 127.0.0.2\n");
      // A client's own Forwarded header: the example drops it, so the client is still the one
      // nginx saw, neither the one it claims nor a 400.
      const spoofed = await get(url, {
        localAddress: "127.0.0.2",
        headers: { Forwarded: 'for=5.6.7.8;proto=https, for="[2001:db8::1]:443"' },
      });
      assert.equal(spoofed.status, 200, spoofed.body);
      assert.equal(spoofed.body, "hello 127.0.0.2\n");
      await eventually(
        () =>
          /^127\.0\.0\.2 - - \[[^\]]+\] "GET \/ HTTP\/1\.1" 200 16 "-" "-"$/m.test(server.stdout),
        "the access line",
      );
      // nginx's own log (the example's access_log, substituted) has the request too.
      await eventually(
        () =>
          /"GET \/ HTTP\/1\.1" 200/.test(
            readFileSync(join(dir.path, "appserve.access.log"), "utf8"),
          ),
        "nginx's access line",
      );
      // Kept-alive upstream connections: several requests, one after the other.
      for (let i = 0; i < 5; i++) assert.equal((await get(url)).status, 200);
    } finally {
      await nginx.stop();
    }
    assert.equal((await server.stop()).code, 0);
  } finally {
    dir.remove();
  }
});

e2e("nginx's workers run as nobody: a socket only root may open gives them 502", async (t) => {
  const dir = tempDir();
  const socket = join(dir.path, "app.sock");
  try {
    writeFileSync(join(dir.path, "mod.ts"), readmeBlocks().ts[0]);
    const args = readmeCommand().map((w) => w.replace(SHIPPED_SOCKET, socket));
    const server = start(t, ["--socket-mode", "600", ...args], { cwd: dir.path });
    const port = await freePort();
    writeFileSync(join(dir.path, "appserve.conf"), example(socket, port, dir.path));
    await server.waitFor(/Listening at: unix:/);
    const nginx = await startNginx(
      dir.path,
      () => `http {\n  include ${dir.path}/appserve.conf;\n}`,
      [],
      port,
    );
    try {
      const answer = await getWhenReady(`http://127.0.0.1:${port}/`);
      assert.equal(answer.status, 502);
      await eventually(
        () =>
          /\(13: Permission denied\)/.test(readFileSync(join(dir.path, "nginx-error.log"), "utf8")),
        "nginx's error line",
      );
    } finally {
      await nginx.stop();
    }
    assert.equal((await server.stop()).code, 0);
  } finally {
    dir.remove();
  }
});

Deno.test("nginx -t refuses an example that does not parse", () => {
  const dir = tempDir();
  try {
    writeFileSync(
      join(dir.path, "appserve.conf"),
      example(join(dir.path, "app.sock"), 8080, dir.path).replace("keepalive 16;", "keepalive 16"),
    );
    const config = writeNginxConfig(dir.path, `http {\n  include ${dir.path}/appserve.conf;\n}`);
    const checked = nginxTest(config, dir.path);
    assert.equal(checked.ok, false);
    assert.match(checked.output, /\[emerg\] .*appserve\.conf:\d+/);
  } finally {
    dir.remove();
  }
});
