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
    });
    assert.equal(plain.name, "bun");
    const project = chooseWorkerRuntime(config("auto"), bunLike, {
      env,
      denoProject: true,
      origins,
    });
    assert.deepEqual([project.name, project.path, project.version], ["deno", fake.path, "2.9.6"]);
    // A deno.json but no Deno anywhere: Bun, with a warning that says why.
    const none = chooseWorkerRuntime(config("auto"), bunLike, {
      env: { PATH: "/nonexistent" },
      denoProject: true,
      origins,
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
    () => chooseWorkerRuntime(config("bun"), denoRuntime, { env: {}, denoProject: false, origins }),
    /--runtime: Cannot run Bun workers from appserve running on Deno/,
  );
});

Deno.test("findDeno() takes --deno, then $DENO, then PATH", () => {
  const a = fakeDeno("2.9.6");
  const b = fakeDeno("2.9.6");
  try {
    const env = { DENO: b.path, PATH: "/nonexistent" };
    assert.equal(findDeno(a.path, denoRuntime, { env, origins }), a.path);
    assert.equal(findDeno("", denoRuntime, { env, origins }), b.path);
    assert.equal(
      findDeno("", bunLike, { env: { PATH: `/nonexistent:${a.dir}` }, origins }),
      a.path,
    );
    assert.equal(findDeno("", bunLike, { env: { PATH: "/nonexistent" }, origins }), undefined);
    assert.throws(
      () => findDeno("/nonexistent/deno", denoRuntime, { env, origins }),
      { message: '--deno: Cannot use "/nonexistent/deno" as Deno: not an executable file' },
    );
  } finally {
    rmSync(a.dir, { recursive: true });
    rmSync(b.dir, { recursive: true });
  }
});
