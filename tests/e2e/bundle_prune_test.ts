// The Deno worker bundle folders old versions left in the cache: a start removes those of
// appserve's naming unused for 30 days and no process runs from, and leaves everything else; a
// cache it cannot remove from is one WARNING, never a failed start; a read-only one (an image's)
// is left without a word.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  asNobody,
  DENO,
  FIXTURES,
  get,
  start,
  type Target,
  TARGETS,
  tempDir,
} from "../_helpers.ts";

const PID_APP = join(FIXTURES, "apps", "pid_app.ts");
const DENO_TARGETS = TARGETS.filter((t) => t.workers === "deno");
const NOBODY = 65534;
const OLD = new Date(Date.now() - 40 * 86_400_000);
const RECENT = new Date(Date.now() - 86_400_000);

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

/** A bundle folder `base/name` holding `bytes` bytes of files, last used at `when`. */
function folder(base: string, name: string, bytes: number[], when: Date): string {
  const dir = join(base, name);
  mkdirSync(join(dir, "sub"), { recursive: true });
  bytes.forEach((n, i) =>
    writeFileSync(join(i ? join(dir, "sub") : dir, `f${i}.js`), "x".repeat(n))
  );
  utimesSync(join(dir, "sub"), when, when);
  utimesSync(dir, when, when);
  return dir;
}

/** `target` started in a mount namespace of its own where `dir` is mounted read-only (as root). */
function readOnly(target: Target, dir: string): Target {
  const script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"';
  return {
    ...target,
    command: "unshare",
    prefix: ["--mount", "sh", "-c", script, dir, target.command, ...target.prefix],
  };
}

for (const target of DENO_TARGETS) {
  test(`[${target.name}] a start removes old bundle folders no process uses, and nothing else`, async () => {
    const dir = tempDir();
    const base = join(dir.path, "cache", "appserve");
    const outside = join(dir.path, "outside");
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, "keep.txt"), "not the cache's\n");
    const hex = (c: string) => c.repeat(16);
    const old1 = folder(base, `0.0.1-${hex("a")}`, [1000, 234], OLD);
    // A symlink inside an old folder goes, and not what it points to.
    symlinkSync(join(outside, "keep.txt"), join(old1, "link"));
    utimesSync(old1, OLD, OLD);
    const old2 = folder(base, `0.0.2-rc.1-${hex("b")}`, [100], OLD);
    const kept = [
      folder(base, `0.0.3-${hex("c")}`, [10], RECENT),
      // Not appserve's naming: a short hash, another name.
      folder(base, "0.0.1-aaaa", [10], OLD),
      folder(base, "notes", [10], OLD),
      folder(base, `0.0.6-${hex("f")}.bak`, [10], OLD),
    ];
    // A symlink of appserve's naming pointing out of the cache.
    const link = join(base, `0.0.4-${hex("d")}`);
    symlinkSync(outside, link);
    utimesSync(outside, OLD, OLD);
    lutimesSync(link, OLD, OLD);
    // An old folder a process still runs from (an old master's worker, its mark not renewed).
    const inUse = folder(base, `0.0.5-${hex("e")}`, [10], OLD);
    writeFileSync(join(inUse, "keep.js"), "setInterval(() => {}, 1 << 30);\n");
    utimesSync(inUse, OLD, OLD);
    const user = spawn(DENO, ["run", "--no-config", join(inUse, "keep.js")], { stdio: "ignore" });
    kept.push(inUse);
    try {
      const env = { XDG_CACHE_HOME: join(dir.path, "cache") };
      const args = ["--runtime", "deno", "-b", "127.0.0.1:0", PID_APP];
      let server = start(target, args, { env });
      try {
        await get(await server.ready());
        assert.match(
          server.stderr,
          new RegExp(
            `\\[INFO\\] Removed 2 Deno worker bundle folders unused for 30 days, 1334 bytes: ` +
              `${old1} \\(1234 bytes\\), ${old2} \\(100 bytes\\)\\n`,
          ),
        );
        assert.equal(server.all(/Removed \d+ Deno worker bundle/g).length, 1);
        assert.doesNotMatch(server.stderr, /Cannot remove/);
      } finally {
        assert.equal((await server.stop()).code, 0, server.stderr);
      }
      assert.ok(!existsSync(old1) && !existsSync(old2));
      for (const path of kept) assert.ok(existsSync(join(path, "f0.js")), path);
      assert.equal(readFileSync(join(link, "keep.txt"), "utf8"), "not the cache's\n");
      const left = readdirSync(base).filter((name) => /^0\.1\./.test(name) || name.startsWith("."));
      assert.equal(left.length, 1, left.join(" ")); // The running version's, no `.…prune` left.
      // Nothing more to remove: nothing said.
      server = start(target, args, { env });
      try {
        await get(await server.ready());
        assert.doesNotMatch(server.stderr, /Removed \d+ Deno worker bundle|Cannot remove/);
      } finally {
        assert.equal((await server.stop()).code, 0, server.stderr);
      }
    } finally {
      user.kill("SIGKILL");
      dir.remove();
    }
  });

  test(`[${target.name}] a cache folder one cannot remove from: one WARNING, and the start goes on`, async () => {
    const dir = tempDir();
    try {
      const cache = join(dir.path, "cache");
      const base = join(cache, "appserve");
      const old = [1, 2].map((i) => folder(base, `0.0.${i}-${"a".repeat(16)}`, [10], OLD));
      const tmp = join(dir.path, "tmp");
      mkdirSync(tmp);
      chmodSync(tmp, 0o777);
      for (const path of [cache, base, ...old]) chownSync(path, NOBODY, NOBODY);
      // The cache's folder read-only to its owner, nobody.
      chmodSync(base, 0o555);
      const nobody = asNobody(target, dir.path);
      const server = start(nobody, ["--runtime", "deno", "-b", "127.0.0.1:0", PID_APP], {
        env: { XDG_CACHE_HOME: cache, TMPDIR: tmp },
      });
      try {
        assert.match((await get(await server.ready())).body, /^hello pid \d+\n$/);
        assert.match(
          server.stderr,
          new RegExp(
            `\\[WARNING\\] Cannot remove the old Deno worker bundle folder ${old[0]}: EACCES ` +
              "\\(and 1 more\\)\\n",
          ),
        );
        assert.equal(server.all(/Cannot remove/g).length, 1);
      } finally {
        assert.equal((await server.stop()).code, 0, server.stderr);
      }
      for (const path of old) assert.ok(existsSync(join(path, "f0.js")), path);
    } finally {
      dir.remove();
    }
  });

  test(`[${target.name}] a read-only cache extracted long ago: served from, and nothing said of removing it`, async () => {
    // Root in this sandbox may make mount namespaces; where it may not, say so rather than pass.
    const probe = spawnSync("unshare", ["--mount", "true"]);
    assert.equal(probe.status, 0, `unshare cannot make a mount namespace here: ${probe.stderr}`);
    const dir = tempDir();
    try {
      const cache = join(dir.path, "cache");
      const env = { XDG_CACHE_HOME: cache, DENO_DIR: join(dir.path, "deno") };
      // Extracted at the image's build (README, "In a container"), 40 days before this start.
      const build = start(target, ["--runtime", "deno", "--check-config", PID_APP], { env });
      assert.equal((await build.exited).code, 0, build.stderr);
      const base = join(cache, "appserve");
      const [current] = readdirSync(base);
      utimesSync(join(base, current), OLD, OLD);
      const old = folder(base, `0.0.1-${"a".repeat(16)}`, [10], OLD);
      const server = start(readOnly(target, cache), [
        "--runtime",
        "deno",
        "-b",
        "127.0.0.1:0",
        PID_APP,
      ], { env });
      try {
        assert.match((await get(await server.ready())).body, /^hello pid \d+\n$/);
        assert.doesNotMatch(server.stderr, /Cannot remove|Removed \d+/);
      } finally {
        assert.equal((await server.stop()).code, 0, server.stderr);
      }
      for (const path of [join(base, current), old]) assert.ok(existsSync(path), path);
    } finally {
      dir.remove();
    }
  });
}
