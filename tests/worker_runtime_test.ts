import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { Config } from "../src/config/settings.ts";
import { denoRuntime } from "../src/runtime/deno.ts";
import type { Runtime } from "../src/runtime/types.ts";
import {
  chooseWorkerRuntime,
  compareVersions,
  findDeno,
  MIN_DENO,
} from "../src/master/worker_runtime.ts";

const origins = { runtime: "--runtime", deno: "--deno" };
const cwd = process.cwd();
const bunLike: Runtime = { ...denoRuntime, name: "bun", version: "1.4.4", compiled: true };

function config(runtime: string, deno = ""): Config {
  return { runtime, deno } as unknown as Config;
}

/** A folder with a fake `deno` that prints `version` for --version. */
function fakeDeno(version: string): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), "appserve-fake-deno-"));
  const path = join(dir, "deno");
  writeFileSync(path, `#!/bin/sh\necho "deno ${version} (stable, release, x86_64)"\n`);
  chmodSync(path, 0o755);
  return { dir, path };
}

Deno.test("compareVersions() compares numerically", () => {
  assert.ok(compareVersions("2.10.0", "2.9.6") > 0);
  assert.ok(compareVersions("1.46.3", MIN_DENO) < 0);
  assert.equal(compareVersions("2.4.0", "2.4.0"), 0);
});

Deno.test("chooseWorkerRuntime() auto under Deno picks the Deno running appserve", () => {
  const chosen = chooseWorkerRuntime(config("auto"), denoRuntime, {
    env: { PATH: "/nonexistent" },
    denoProject: false,
    origins,
    cwd,
  });
  assert.deepEqual(
    [chosen.name, chosen.path, chosen.version],
    ["deno", process.execPath, Deno.version.deno],
  );
});

Deno.test("chooseWorkerRuntime() auto in the binary: Bun without deno.json, Deno with one", () => {
  const fake = fakeDeno("2.9.6");
  try {
    const env = { PATH: fake.dir };
    const plain = chooseWorkerRuntime(config("auto"), bunLike, {
      env,
      denoProject: false,
      origins,
      cwd,
    });
    assert.equal(plain.name, "bun");
    const project = chooseWorkerRuntime(config("auto"), bunLike, {
      env,
      denoProject: true,
      origins,
      cwd,
    });
    assert.deepEqual([project.name, project.path, project.version], ["deno", fake.path, "2.9.6"]);
    // A deno.json but no Deno anywhere: Bun, with a warning that says why.
    const none = chooseWorkerRuntime(config("auto"), bunLike, {
      env: { PATH: "/nonexistent" },
      denoProject: true,
      origins,
      cwd,
    });
    assert.equal(none.name, "bun");
    assert.match(none.note ?? "", /no Deno executable was found/);
  } finally {
    rmSync(fake.dir, { recursive: true });
  }
});

Deno.test("chooseWorkerRuntime() --runtime deno without a Deno says how to install one", () => {
  assert.throws(
    () =>
      chooseWorkerRuntime(config("deno"), bunLike, {
        env: { PATH: "/nonexistent" },
        denoProject: false,
        origins,
        cwd,
      }),
    {
      name: "ConfigError",
      message: "--runtime: Cannot find a Deno executable for the workers: install it with " +
        '"npm i -g deno" or from https://deno.com, or name it with --deno PATH',
    },
  );
});

Deno.test("chooseWorkerRuntime() refuses a Deno older than MIN_DENO in one line", () => {
  const fake = fakeDeno("1.46.3");
  try {
    assert.throws(
      () =>
        chooseWorkerRuntime(config("deno", fake.path), bunLike, {
          env: {},
          denoProject: true,
          origins,
          cwd,
        }),
      {
        name: "ConfigError",
        message: `Deno 1.46.3 at ${fake.path} is too old for appserve's workers: they need ` +
          `Deno ${MIN_DENO} or newer (upgrade with "deno upgrade" or "npm i -g deno", or name ` +
          "another with --deno)",
      },
    );
  } finally {
    rmSync(fake.dir, { recursive: true });
  }
});

Deno.test("chooseWorkerRuntime() --runtime bun under Deno is refused", () => {
  assert.throws(
    () =>
      chooseWorkerRuntime(config("bun"), denoRuntime, {
        env: {},
        denoProject: false,
        origins,
        cwd,
      }),
    /--runtime: Cannot run Bun workers from appserve running on Deno/,
  );
});

Deno.test("findDeno() takes --deno, then $DENO, then PATH", () => {
  const a = fakeDeno("2.9.6");
  const b = fakeDeno("2.9.6");
  try {
    const env = { DENO: b.path, PATH: "/nonexistent" };
    assert.equal(findDeno(a.path, denoRuntime, { env, origins, cwd }), a.path);
    assert.equal(findDeno("", denoRuntime, { env, origins, cwd }), b.path);
    assert.equal(
      findDeno("", bunLike, { env: { PATH: `/nonexistent:${a.dir}` }, origins, cwd }),
      a.path,
    );
    assert.equal(findDeno("", bunLike, { env: { PATH: "/nonexistent" }, origins, cwd }), undefined);
    assert.throws(
      () => findDeno("/nonexistent/deno", denoRuntime, { env, origins, cwd }),
      { message: '--deno: Cannot use "/nonexistent/deno" as Deno: not an executable file' },
    );
  } finally {
    rmSync(a.dir, { recursive: true });
    rmSync(b.dir, { recursive: true });
  }
});

Deno.test("findDeno() finds a bare --deno or $DENO on PATH and a relative one from cwd", () => {
  const a = fakeDeno("2.9.6");
  try {
    const env = { PATH: `/nonexistent:${a.dir}` };
    assert.equal(findDeno("deno", bunLike, { env, origins, cwd }), a.path);
    assert.equal(findDeno("", bunLike, { env: { ...env, DENO: "deno" }, origins, cwd }), a.path);
    assert.equal(findDeno("./deno", bunLike, { env: {}, origins, cwd: a.dir }), a.path);
    assert.throws(
      () => findDeno("deno", bunLike, { env: { PATH: "/nonexistent" }, origins, cwd }),
      { message: '--deno: Cannot use "deno" as Deno: not found on PATH' },
    );
    assert.throws(
      () => findDeno("./nodeno", bunLike, { env: {}, origins, cwd: a.dir }),
      {
        message: `--deno: Cannot use "./nodeno" as Deno: ${a.dir}/nodeno is not an executable file`,
      },
    );
  } finally {
    rmSync(a.dir, { recursive: true });
  }
});
