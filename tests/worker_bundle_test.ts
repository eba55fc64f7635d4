import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  BUNDLE_FILES,
  cacheCandidates,
  installBundle,
  latin1Source,
  lazyRequire,
  SOURCE_BUNDLE_DIR,
} from "../src/master/worker_bundle.ts";
import { VERSION } from "../src/version.ts";

const encode = (text: string) => new TextEncoder().encode(text);
const FILES = new Map([["process_entry.js", encode("worker")], ["thread_entry.js", encode("t")]]);

function withTemp(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "appserve-bundle-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

Deno.test("installBundle() writes into $XDG_CACHE_HOME/appserve/<version>-<hash>/", () => {
  withTemp((cache) => {
    const first = installBundle(FILES, { env: { XDG_CACHE_HOME: cache } });
    assert.match(first.dir, new RegExp(`^${cache}/appserve/${VERSION}-[0-9a-f]{16}$`));
    assert.equal(readFileSync(join(first.dir, "process_entry.js"), "utf8"), "worker");
    assert.deepEqual(first.notes, []);
    assert.equal(first.fallback, undefined);
    // Installed already: nothing is written again.
    const mtime = statSync(join(first.dir, "process_entry.js")).mtimeMs;
    const again = installBundle(FILES, { env: { XDG_CACHE_HOME: cache } });
    assert.equal(again.dir, first.dir);
    assert.equal(statSync(join(first.dir, "process_entry.js")).mtimeMs, mtime);
    // Other bytes, another folder.
    const other = installBundle(new Map([["process_entry.js", encode("v2")]]), {
      env: { XDG_CACHE_HOME: cache },
    });
    assert.notEqual(other.dir, first.dir);
  });
});

Deno.test("installBundle() writes a damaged file again and says so", () => {
  withTemp((cache) => {
    const { dir } = installBundle(FILES, { env: { XDG_CACHE_HOME: cache } });
    writeFileSync(join(dir, "process_entry.js"), "garbage");
    const repaired = installBundle(FILES, { env: { XDG_CACHE_HOME: cache } });
    assert.equal(readFileSync(join(dir, "process_entry.js"), "utf8"), "worker");
    assert.deepEqual(repaired.notes, [
      `${dir}/process_entry.js was damaged (its hash differed): written again`,
    ]);
  });
});

Deno.test("installBundle() falls back to a private temp folder when the cache is not writable", () => {
  withTemp((tmp) => {
    const saved = Deno.env.get("TMPDIR");
    Deno.env.set("TMPDIR", tmp);
    try {
      const installed = installBundle(FILES, { env: { XDG_CACHE_HOME: "/dev/null/cache" } });
      assert.ok(installed.dir.startsWith(join(tmp, "appserve-")), installed.dir);
      assert.match(
        installed.fallback ?? "",
        /^Cannot use \/dev\/null\/cache\/appserve: .*; the Deno worker bundle is in /,
      );
      assert.deepEqual(installed.notes, []);
      assert.equal(statSync(join(installed.dir, "..")).mode & 0o777, 0o700);
      // Installed again (a HUP) in the same fallback: the same line, which the launch holds as a
      // configuration warning (the arbiter says it once: worker_launch_test.ts).
      const again = installBundle(FILES, { env: { XDG_CACHE_HOME: "/dev/null/cache" } });
      assert.equal(again.dir, installed.dir);
      assert.equal(again.fallback, installed.fallback);
      assert.deepEqual(again.notes, []);
    } finally {
      if (saved === undefined) Deno.env.delete("TMPDIR");
      else Deno.env.set("TMPDIR", saved);
    }
  });
});

Deno.test("installBundle() fails in one line when no folder is writable", () => {
  const saved = Deno.env.get("TMPDIR");
  Deno.env.set("TMPDIR", "/dev/null/tmp");
  try {
    assert.throws(
      () => installBundle(FILES, { env: { XDG_CACHE_HOME: "/dev/null/cache" } }),
      (error: Error) => {
        assert.equal(error.name, "ConfigError");
        assert.match(
          error.message,
          /^Cannot write the Deno worker bundle to \/dev\/null\/cache\/appserve: .*, nor \/dev\/null\/tmp\/appserve-\d+: /,
        );
        assert.equal(error.message.split("\n").length, 1);
        return true;
      },
    );
  } finally {
    if (saved === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", saved);
  }
});

Deno.test("cacheCandidates() uses ~/.cache without $XDG_CACHE_HOME, and ignores a relative one", () => {
  const dirs = cacheCandidates({ env: { HOME: "/home/u", XDG_CACHE_HOME: "rel" }, uid: 7 });
  assert.deepEqual(dirs.map((d) => d.dir), [
    "/home/u/.cache/appserve",
    join(tmpdir(), "appserve-7"),
  ]);
});

Deno.test("latin1Source() escapes what Latin-1 cannot hold and keeps the code's meaning", () => {
  const source = '// a \u2192 b\nconst s = "x\u2264y \u00b5 \u{1f600}"; s;';
  const out = latin1Source(source);
  assert.equal(out, '// a \\u2192 b\nconst s = "x\\u2264y \u00b5 \\ud83d\\ude00"; s;');
  assert.equal((0, eval)(out), (0, eval)(source));
  // A character escaped by a backslash, in a regex and in a string; an escaped backslash before one.
  for (const code of ['/\\\u2192/.test("\u2192")', '"\\\u2192"', '"\\\\\u2192"']) {
    assert.equal((0, eval)(latin1Source(code)), (0, eval)(code), code);
    assert.doesNotMatch(latin1Source(code), /[\u0100-\uffff]/);
  }
});

Deno.test("the built worker bundle holds no character past U+00FF (V8 keeps it one byte a character)", () => {
  for (const name of BUNDLE_FILES) {
    const text = readFileSync(join(SOURCE_BUNDLE_DIR, name), "utf8");
    const at = text.search(/[\u0100-\uffff]/);
    assert.equal(at, -1, `${name}: ${JSON.stringify(text.slice(at - 20, at + 20))}`);
  }
});

Deno.test("the built worker bundle is minified, with its names kept (every worker parses and holds it)", () => {
  for (const name of ["process_entry.js", "thread_entry.js"] as const) {
    const text = readFileSync(join(SOURCE_BUNDLE_DIR, name), "utf8");
    // The unminified output marks each inlined module with a `// path` comment line.
    assert.doesNotMatch(text, /^\/\/ workers\//m, `${name} is not minified`);
    assert.ok(text.split("\n").length < 500, `${name}: ${text.split("\n").length} lines`);
  }
  // --keep-names: a worker's log and error lines name appserve's classes as written.
  const entry = readFileSync(join(SOURCE_BUNDLE_DIR, "process_entry.js"), "utf8");
  assert.match(entry, /"AppserveError"/);
});

Deno.test("lazyRequire() gives esbuild's require shim a require of node builtins", () => {
  withTemp((dir) => {
    // The shim as `deno bundle --minify` writes it.
    const shim = `var b=(t=>typeof require<"u"?require:typeof Proxy<"u"?new Proxy(t,{get:(e,r)=>` +
      `(typeof require<"u"?require:e)[r]}):t)(function(t){if(typeof require<"u")return ` +
      `require.apply(this,arguments);throw Error('Dynamic require of "'+t+'" is not supported')});`;
    const source = `${shim}console.log(b("node:path").join("a","b"));`;
    const run = (text: string) => {
      writeFileSync(join(dir, "m.js"), text);
      return spawnSync(process.execPath, ["run", "--quiet", "--no-config", join(dir, "m.js")], {
        encoding: "utf8",
      });
    };
    assert.match(run(source).stderr, /Dynamic require of "node:path" is not supported/);
    const fixed = run(lazyRequire(source));
    assert.equal(fixed.stdout, "a/b\n", fixed.stderr);
  });
});
