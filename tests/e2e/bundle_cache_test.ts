// The Deno worker bundle's cache folder as an operator's box treats it: emptied under a running
// master (a temp cleaner), written by another user (root's --check-config), unreadable, on a full
// disk. Each time the master writes the files again, falls back or says one line.

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { childPids } from "../_procs.ts";
import {
  asNobody,
  assertOneLineError,
  eventually,
  FIXTURES,
  get,
  pidOf,
  ROOT,
  run,
  start,
  type Target,
  TARGETS,
  tempDir,
} from "../_helpers.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const DENO_TARGETS = TARGETS.filter((t) => t.workers === "deno");
const NOBODY = 65534;

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

/** The one `<version>-<hash>` folder under `base`. */
function bundleDir(base: string): string {
  const [version] = readdirSync(base);
  return join(base, version);
}

/** A Deno project of its own: deno.json maps a folder, so its import map is its own. */
function denoProject(dir: string): string {
  mkdirSync(join(dir, "lib"), { recursive: true });
  writeFileSync(join(dir, "deno.json"), '{ "imports": { "lib/": "./lib/" } }\n');
  writeFileSync(join(dir, "lib", "word.ts"), 'export const word = "mapped";\n');
  writeFileSync(
    join(dir, "app.ts"),
    'import { word } from "lib/word.ts";\n' +
      "export default { fetch: () => new Response(`${word} pid ${process.pid}`) };\n",
  );
  return join(dir, "app.ts");
}

for (const target of DENO_TARGETS) {
  test(`[${target.name}] the bundle's folder deleted under a running master: the next worker writes it again`, async () => {
    const dir = tempDir();
    try {
      const cache = join(dir.path, "cache");
      const server = start(target, ["-w", "2", "-b", "127.0.0.1:0", PID_APP], {
        env: { XDG_CACHE_HOME: cache },
      });
      try {
        const url = await server.allAnswering(2);
        const bundle = bundleDir(join(cache, "appserve"));
        rmSync(bundle, { recursive: true });
        const [killed, kept] = childPids(server.pid);
        process.kill(killed, "SIGKILL");
        await eventually(() => {
          const pids = childPids(server.pid);
          return pids.length === 2 && !pids.includes(killed);
        }, "a replacement worker");
        const [replacement] = childPids(server.pid).filter((p) => p !== kept);
        await eventually(
          async () => pidOf(await get(url)) === replacement,
          "the replacement serves",
        );
        assert.match(
          server.stderr,
          new RegExp(
            `\\[WARNING\\] 4 of the 4 files of the Deno worker bundle in ${bundle} were gone ` +
              "\\(a cleaner of temporary files\\?\\): written again\\n",
          ),
        );
        assert.equal(server.all(/were gone/g).length, 1);
        assert.ok(existsSync(join(bundle, "process_entry.js")));
        assert.ok(childPids(server.pid).includes(kept));
      } finally {
        const result = await server.stop();
        assert.equal(result.code, 0, result.stderr);
      }
    } finally {
      dir.remove();
    }
  });

  test(`[${target.name}] a cache folder another user wrote: the bundle falls back to a temp folder of one's own`, async () => {
    const dir = tempDir();
    try {
      const cache = join(dir.path, "cache");
      const tmp = join(dir.path, "tmp");
      mkdirSync(tmp, { mode: 0o777 });
      chmodSync(tmp, 0o777);
      // Root fills the cache first (the folder mode 0755, as its umask gives).
      const asRoot = await run(target, ["--check-config", PID_APP], {
        env: { XDG_CACHE_HOME: cache },
      });
      assert.equal(asRoot.code, 0, asRoot.stderr);
      assert.equal(statSync(bundleDir(join(cache, "appserve"))).uid, 0);
      const app = denoProject(join(dir.path, "project"));
      const nobody = asNobody(target, dir.path);
      const env = { XDG_CACHE_HOME: cache, TMPDIR: tmp };
      const checked = await run(nobody, ["--check-config", app], { env });
      assert.equal(checked.code, 0, checked.stderr);
      assert.equal(checked.stdout, "configuration OK\n");
      const started = () => start(nobody, ["-b", "127.0.0.1:0", app], { env });
      let server = started();
      const fallback = join(tmp, `appserve-${NOBODY}`);
      try {
        assert.match((await get(await server.ready())).body, /^mapped pid \d+$/);
        assert.match(
          server.stderr,
          new RegExp(
            `\\[WARNING\\] Cannot use ${cache}/appserve: .*EACCES.*; ` +
              `the Deno worker bundle is in ${fallback}/`,
          ),
        );
      } finally {
        assert.equal((await server.stop()).code, 0, server.stderr);
      }
      // A file of it made unreadable is written again, and said as a damaged one is.
      const file = join(bundleDir(fallback), "thread_entry.js");
      chmodSync(file, 0o000);
      server = started();
      try {
        await get(await server.ready());
        assert.match(
          server.stderr,
          new RegExp(`\\[WARNING\\] ${file} was damaged \\(unreadable: EACCES\\): written again`),
        );
        assert.equal(statSync(file).mode & 0o777, 0o644);
      } finally {
        assert.equal((await server.stop()).code, 0, server.stderr);
      }
    } finally {
      dir.remove();
    }
  });
}

test("[binary-deno] a full disk while the bundle is written: one line, exit 1, no temp file left", async () => {
  const dir = tempDir();
  const mount = join(dir.path, "full");
  mkdirSync(mount);
  // Room for process_entry.js, not for thread_entry.js after it (sizes of the built bundle).
  const size = (name: string) => statSync(join(ROOT, "dist", "deno", name)).size;
  const room = Math.ceil((size("process_entry.js") + size("thread_entry.js") / 2) / 1024);
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${room}k`, "tmpfs", mount]);
  try {
    const target = DENO_TARGETS.find((t) => t.name === "binary-deno")!;
    for (let i = 0; i < 2; i++) {
      const result = await run(target, ["-b", "127.0.0.1:0", PID_APP], {
        env: { XDG_CACHE_HOME: join(mount, "cache"), TMPDIR: mount },
      });
      assertOneLineError(result, 1, /^Error: Cannot write the Deno worker bundle to .+ENOSPC/);
    }
    const left = execFileSync("find", [mount, "-name", "*.tmp"], { encoding: "utf8" });
    assert.equal(left, "");
  } finally {
    execFileSync("umount", [mount]);
    dir.remove();
  }
});

// A container whose filesystem is read-only: the one line says both ways out.
test("[binary-deno] a read-only cache and TMPDIR: one line naming XDG_CACHE_HOME and the build-time extraction", async () => {
  const dir = tempDir();
  const mount = join(dir.path, "ro");
  mkdirSync(mount);
  execFileSync("mount", ["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", mount]);
  try {
    const target = DENO_TARGETS.find((t) => t.name === "binary-deno")!;
    const result = await run(target, ["-b", "127.0.0.1:0", PID_APP], {
      env: { XDG_CACHE_HOME: join(mount, "cache"), TMPDIR: mount },
    });
    assertOneLineError(
      result,
      1,
      /^Error: Cannot write the Deno worker bundle to .+EROFS.*: set XDG_CACHE_HOME to a writable folder, or extract the bundle at image build time \(appserve --check-config/,
    );
  } finally {
    execFileSync("umount", [mount]);
    dir.remove();
  }
});

// The README's container recipe: --check-config writes the bundle when the image is built; the
// image's cache folder, read-only and maybe copied elsewhere, is what the workers then run from.
for (const target of DENO_TARGETS) {
  test(`[${target.name}] a bundle extracted by --check-config, copied to a read-only folder: a start serves from it`, async () => {
    const dir = tempDir();
    const image = join(dir.path, "image-cache");
    try {
      const app = denoProject(join(dir.path, "project"));
      const build = join(dir.path, "build-cache");
      const checked = await run(target, ["--check-config", app], {
        cwd: dirname(app),
        env: { XDG_CACHE_HOME: build },
      });
      assert.equal(checked.code, 0, checked.stderr);
      mkdirSync(image);
      execFileSync("cp", ["-a", join(build, "appserve"), image]);
      execFileSync("mount", ["--bind", image, image]);
      execFileSync("mount", ["-o", "remount,bind,ro", image]);
      const server = start(target, ["-b", "127.0.0.1:0", app], {
        cwd: dirname(app),
        env: { XDG_CACHE_HOME: image, TMPDIR: image },
      });
      try {
        const answer = await get(await server.ready(1));
        assert.match(answer.body, /^mapped pid \d+$/);
      } finally {
        await server.stop();
      }
    } finally {
      spawnSync("umount", [image]);
      dir.remove();
    }
  });
}

for (const target of DENO_TARGETS) {
  test(`[${target.name}] as root with -u nobody: a Deno cache nobody cannot write is said at start, and --env DENO_DIR=… answers it`, async () => {
    const dir = tempDir();
    try {
      chmodSync(dir.path, 0o755);
      // Root's own cache folder, as /root/.cache is: nobody may not even look in.
      const rootCache = join(dir.path, "root-cache");
      mkdirSync(rootCache, { mode: 0o700 });
      const tmp = join(dir.path, "tmp");
      mkdirSync(tmp);
      chmodSync(tmp, 0o777);
      const env: Record<string, string> = { XDG_CACHE_HOME: rootCache, TMPDIR: tmp };
      if (process.env.DENO_DIR) env.DENO_DIR = join(rootCache, "deno");
      const args = ["-u", "nobody", "-b", "127.0.0.1:0", PID_APP];
      const server = start(target, args, { env });
      try {
        // Under `deno run` the master compiles appserve into the empty cache first: slow on a busy box.
        await server.waitFor(/Booting worker|Worker .*exited/, 120_000);
        assert.match(
          server.stderr,
          new RegExp(
            `\\[WARNING\\] Deno workers run as nobody \\(uid ${NOBODY}\\), who cannot write Deno's cache ` +
              `${rootCache}/deno[ ,].*: an npm: or remote import not cached there fails to load; ` +
              "set DENO_DIR to a folder nobody can write",
          ),
        );
      } finally {
        await server.stop();
      }
      // The workers' own cache through --env: nothing to say, and they serve.
      const own = join(dir.path, "nobody-cache");
      mkdirSync(own, { mode: 0o777 });
      chmodSync(own, 0o777);
      const served = start(target, ["-e", `DENO_DIR=${own}`, ...args], { env });
      try {
        assert.match((await get(await served.ready())).body, /^hello pid \d+\n$/);
        assert.doesNotMatch(served.stderr, /Deno's cache/);
      } finally {
        assert.equal((await served.stop()).code, 0, served.stderr);
      }
    } finally {
      dir.remove();
    }
  });
}

/** `target` with no HOME, XDG_CACHE_HOME or DENO_DIR (a container's `env -i`), temp files in `tmp`. */
function withoutHome(target: Target, tmp: string): Target {
  const unset = ["HOME", "XDG_CACHE_HOME", "DENO_DIR"].flatMap((name) => ["-u", name]);
  return {
    ...target,
    command: "env",
    prefix: [...unset, `TMPDIR=${tmp}`, target.command, ...target.prefix],
  };
}

for (const target of DENO_TARGETS) {
  test(`[${target.name}] no HOME and -u nobody: Deno's cache in the home /etc/passwd gives is said at start`, async () => {
    const dir = tempDir();
    try {
      chmodSync(dir.path, 0o777);
      const args = ["-u", "nobody", "-b", "127.0.0.1:0", PID_APP];
      const server = start(withoutHome(target, dir.path), args);
      try {
        await server.waitFor(/Booting worker|Worker .*exited/, 120_000);
        assert.match(
          server.stderr,
          /\[WARNING\] Deno workers run as nobody \(uid 65534\), who cannot write Deno's cache \/nonexistent\/\.cache\/deno .*from \/etc\/passwd's home for the user, \/nonexistent \(HOME is unset\): .*set DENO_DIR to a folder nobody can write/,
        );
      } finally {
        assert.equal((await server.stop()).code, 0, server.stderr);
      }
    } finally {
      dir.remove();
    }
  });

  test(`[${target.name}] no HOME and a uid /etc/passwd does not know: Deno would not run, one line, exit 1`, async () => {
    const dir = tempDir();
    try {
      chmodSync(dir.path, 0o777);
      const args = ["-u", "12345", "-g", "12345", "-b", "127.0.0.1:0", PID_APP];
      const result = await run(withoutHome(target, dir.path), args);
      // The drop comes first, and says so: the check is the workers' user's.
      const dropped = /^.*\[INFO\] Dropped privileges to user 12345 .*\n/;
      assert.match(result.stderr, dropped);
      assertOneLineError(
        { ...result, stderr: result.stderr.replace(dropped, "") },
        1,
        /^Error: Deno workers run as uid 12345, for whom Deno finds no cache folder \(DENO_DIR, XDG_CACHE_HOME and HOME are unset, and \/etc\/passwd gives no home\), so Deno would refuse to run them; set DENO_DIR \(or HOME\) to a folder uid 12345 can write$/,
      );
    } finally {
      dir.remove();
    }
  });
}
