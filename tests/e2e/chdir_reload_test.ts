// --chdir and the start directory across HUP and USR2, as gunicorn keeps them: a HUP after a
// symlink deploy starts the new release's workers (through --chdir, or through the directory the
// shell started appserve in, $PWD), and the configuration's relative paths, and USR2's new master,
// stay where appserve was started, not in --chdir's folder.

import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  alive,
  childPids,
  e2e,
  eventually,
  get,
  run,
  type Server,
  sleep,
  start,
  tempDir,
} from "../_helpers.ts";

/** `dir/rel1`, `dir/rel2` (each an app saying its release) and `dir/current` → rel1. */
function releases(dir: string): void {
  for (const r of [1, 2]) {
    mkdirSync(join(dir, `rel${r}`));
    writeFileSync(
      join(dir, `rel${r}`, "app.ts"),
      `export default { fetch: () => new Response("release ${r}\\n") };\n`,
    );
  }
  symlinkSync("rel1", join(dir, "current"));
}

// As a deploy swaps it: a new link renamed over the old one.
function deploy(dir: string, release: string): void {
  symlinkSync(release, join(dir, "current.tmp"));
  renameSync(join(dir, "current.tmp"), join(dir, "current"));
}

async function hupServes(server: Server, url: string, body: string): Promise<void> {
  const before = childPids(server.pid);
  server.signal("SIGHUP");
  await eventually(
    () => childPids(server.pid).length === 1 && !before.includes(childPids(server.pid)[0]),
    "the HUP's worker alone",
  );
  assert.equal((await get(url)).body, body);
}

for (const how of ["--chdir through the symlink", "started in it ($PWD)"]) {
  e2e(`a HUP after a symlink deploy serves the new release: ${how}`, async (target) => {
    const dir = tempDir();
    const current = join(dir.path, "current");
    releases(dir.path);
    const server = how.startsWith("--chdir")
      ? start(target, ["--chdir", current, "-b", "127.0.0.1:0", "app.ts"], { cwd: dir.path })
      : start(target, ["-b", "127.0.0.1:0", "app.ts"], {
        cwd: current,
        env: { PWD: current },
      });
    try {
      const url = await server.ready(1);
      assert.equal((await get(url)).body, "release 1\n");
      deploy(dir.path, "rel2");
      await hupServes(server, url, "release 2\n");
      // And back (a rollback is a deploy too).
      deploy(dir.path, "rel1");
      await hupServes(server, url, "release 1\n");
      assert.doesNotMatch(server.stderr, /Reload failed|ERROR/);
    } finally {
      const result = await server.stop();
      dir.remove();
      assert.equal(result.code, 0, result.stderr);
    }
  });
}

e2e(
  "after a relative --chdir, HUP and USR2 read the configuration where appserve started",
  async (target) => {
    const dir = tempDir();
    const pidfile = join(dir.path, "app.pid");
    mkdirSync(join(dir.path, "sub"));
    writeFileSync(
      join(dir.path, "sub", "app.ts"),
      'export default { fetch: () => new Response("sub\\n") };\n',
    );
    // A relative -c, read from the start directory at start, at HUP and by USR2's new master.
    writeFileSync(join(dir.path, "conf.toml"), 'workers = 2\nbind = ["127.0.0.1:0"]\n');
    const server = start(target, ["-c", "conf.toml", "--chdir", "sub", "-p", pidfile, "app.ts"], {
      cwd: dir.path,
    });
    let next = 0;
    try {
      const url = await server.ready(2);
      const before = childPids(server.pid);
      server.signal("SIGHUP");
      await eventually(() => {
        const now = childPids(server.pid);
        return now.length === 2 && now.every((pid) => !before.includes(pid));
      }, "two workers of the HUP");
      assert.equal((await get(url)).body, "sub\n");
      assert.doesNotMatch(server.stderr, /Reload failed|changed/);
      // USR2: the new master starts where this one did, with the same relative arguments.
      server.signal("SIGUSR2");
      await eventually(() => existsSync(`${pidfile}.2`), "the new master's pidfile");
      next = Number(readFileSync(`${pidfile}.2`, "utf8"));
      await eventually(() => childPids(next).length === 2, "the new master's two workers");
      // The new master holds the old one's stdout and stderr: its exit, not their close.
      server.signal("SIGTERM");
      await eventually(() => !alive(server.pid), "the old master stops");
      await eventually(() => !existsSync(`${pidfile}.2`), "the new master promoted");
      assert.equal((await get(url)).body, "sub\n");
      assert.doesNotMatch(server.stderr, /Cannot change directory/);
    } finally {
      if (next && alive(next)) {
        process.kill(next, "SIGTERM");
        await eventually(() => !alive(next), "the new master stops");
      }
      await server.stop();
      dir.remove();
    }
  },
);

e2e(
  "a --chdir that names no directory: one line at the start (exit 1), the same at a HUP (reload failed)",
  async (target) => {
    const dir = tempDir();
    mkdirSync(join(dir.path, "sub"));
    writeFileSync(
      join(dir.path, "sub", "app.ts"),
      'export default { fetch: () => new Response("sub\\n") };\n',
    );
    writeFileSync(join(dir.path, "file"), "");
    try {
      for (const chdir of ["gone", "file"]) {
        const result = await run(target, ["--chdir", chdir, "-b", "127.0.0.1:0", "app.ts"], {
          cwd: dir.path,
        });
        assert.equal(result.code, 1, result.stderr);
        assert.equal(result.stderr, `Error: --chdir: Cannot change directory to "${chdir}"\n`);
      }
      const conf = join(dir.path, "conf.toml");
      writeFileSync(conf, 'chdir = "sub"\nbind = ["127.0.0.1:0"]\n');
      const server = start(target, ["-c", "conf.toml", "app.ts"], { cwd: dir.path });
      try {
        const url = await server.ready(1);
        writeFileSync(conf, 'chdir = "gone"\nbind = ["127.0.0.1:0"]\n');
        server.signal("SIGHUP");
        await server.waitFor(
          new RegExp(
            `\\[ERROR\\] Reload failed, keeping the running workers: conf\\.toml:1:9: ` +
              `Cannot change directory to "${join(dir.path, "gone")}"$`,
            "m",
          ),
        );
        assert.equal((await get(url)).body, "sub\n");
      } finally {
        await server.stop();
      }
    } finally {
      dir.remove();
    }
  },
);

e2e(
  "--reload watches the .env of the folder the workers run in: --chdir's, and after a HUP the new release's",
  async (target) => {
    const dir = tempDir();
    const current = join(dir.path, "current");
    releases(dir.path);
    const greet = (release: string, value: string) =>
      writeFileSync(join(dir.path, release, ".env"), `GREETING=${value}\n`);
    for (const r of ["rel1", "rel2"]) {
      writeFileSync(
        join(dir.path, r, "app.ts"),
        `export default { fetch: () => new Response("${r} " + process.env.GREETING) };\n`,
      );
      greet(r, "one");
    }
    // Deno workers read a .env only when asked, as `deno serve`; Bun workers as `bun run`.
    const flags = target.workers === "deno" ? ["--deno-flags=-A --env-file"] : [];
    const server = start(
      target,
      ["--reload", ...flags, "--chdir", current, "-b", "127.0.0.1:0", "app.ts"],
      { cwd: dir.path },
    );
    try {
      const url = await server.ready(1);
      assert.equal((await get(url)).body, "rel1 one");
      greet("rel1", "two");
      await eventually(async () => (await get(url)).body === "rel1 two", "rel1's edit served");
      deploy(dir.path, "rel2");
      await hupServes(server, url, "rel2 one");
      greet("rel2", "three");
      await eventually(async () => (await get(url)).body === "rel2 three", "rel2's edit served");
      await server.waitFor(/Worker reloading: .*\/rel2\/\.env modified/);
      // The old release's .env is no longer the workers': an edit there reloads nothing.
      const before = childPids(server.pid);
      greet("rel1", "four");
      await sleep(1000);
      assert.deepEqual(childPids(server.pid), before);
    } finally {
      const result = await server.stop();
      dir.remove();
      assert.equal(result.code, 0, result.stderr);
    }
  },
);
