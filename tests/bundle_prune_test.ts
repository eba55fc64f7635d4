// pruneBundles() on its own: leftovers of a removal cut short, the mark an install leaves, and
// masters pruning the same cache at once (real processes).

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { markBundleUsed, pruneBundles } from "../src/master/bundle_prune.ts";
import { DENO, tempDir } from "./_helpers.ts";

const OLD = new Date(Date.now() - 40 * 86_400_000);

function oldFolder(path: string, files = 1): void {
  mkdirSync(path, { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(path, `f${i}.js`), "x".repeat(10));
  utimesSync(path, OLD, OLD);
}

Deno.test("pruneBundles() removes the leftover of a master no longer running, not a running one's", () => {
  const dir = tempDir();
  try {
    const gone = spawnSync("true").pid!;
    const dead = join(dir.path, `.0.0.1-${"a".repeat(16)}.${gone}.0123abcd.prune`);
    const running = join(dir.path, `.0.0.1-${"b".repeat(16)}.${process.pid}.0123abcd.prune`);
    const foreign = join(dir.path, `.notes.${gone}.0123abcd.prune`);
    for (const path of [dead, running, foreign]) oldFolder(path);
    const report = pruneBundles([dir.path]);
    assert.match(
      report.info ?? "",
      /^Removed 1 Deno worker bundle folder unused for 30 days, 10 bytes/,
    );
    assert.equal(report.warning, undefined);
    assert.ok(!existsSync(dead) && existsSync(running) && existsSync(foreign));
  } finally {
    dir.remove();
  }
});

Deno.test("pruneBundles() keeps the folder this start runs from, however old", () => {
  const dir = tempDir();
  try {
    const [current, other] = ["a", "b"].map((c) => join(dir.path, `0.0.1-${c.repeat(16)}`));
    oldFolder(current);
    oldFolder(other);
    const report = pruneBundles([dir.path], { keep: current });
    assert.ok(report.info?.endsWith(`days, 10 bytes: ${other} (10 bytes)`), String(report.info));
    assert.ok(existsSync(current) && !existsSync(other));
  } finally {
    dir.remove();
  }
});

Deno.test("markBundleUsed() makes an old folder recent, so it is kept", () => {
  const dir = tempDir();
  try {
    const path = join(dir.path, `0.0.1-${"a".repeat(16)}`);
    oldFolder(path);
    markBundleUsed(path);
    assert.ok(Date.now() - statSync(path).mtimeMs < 86_400_000);
    assert.deepEqual(pruneBundles([dir.path]), {});
    assert.ok(existsSync(path));
  } finally {
    dir.remove();
  }
});

Deno.test("masters pruning one cache at once remove each folder once, with no warning", async () => {
  const dir = tempDir();
  try {
    const base = join(dir.path, "appserve");
    for (let i = 0; i < 50; i++) oldFolder(join(base, `0.0.${i}-${"a".repeat(16)}`), 20);
    const module = new URL("../src/master/bundle_prune.ts", import.meta.url).href;
    const script = `import { pruneBundles } from "${module}";\n` +
      `console.log(JSON.stringify(pruneBundles([${JSON.stringify(base)}])));\n`;
    const runs = [0, 1, 2, 3].map(() =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(DENO, ["eval", "--no-check", script], {
          stdio: ["ignore", "pipe", "inherit"],
        });
        let out = "";
        child.stdout.on("data", (chunk) => out += chunk);
        child.on("error", reject);
        child.on("close", (code) => code === 0 ? resolve(out) : reject(new Error(`exit ${code}`)));
      })
    );
    const reports = (await Promise.all(runs)).map((out) => JSON.parse(out));
    for (const report of reports) assert.equal(report.warning, undefined);
    const counted = reports.reduce(
      (sum, report) => sum + Number(/^Removed (\d+)/.exec(report.info ?? "")?.[1] ?? 0),
      0,
    );
    assert.equal(counted, 50);
    assert.deepEqual(readdirSync(base), []);
  } finally {
    dir.remove();
  }
});

Deno.test("pruneBundles() leaves a cache folder another user owns, or others may write", () => {
  const dir = tempDir();
  try {
    const foreign = join(dir.path, "foreign");
    const open = join(dir.path, "open");
    const group = join(dir.path, "group");
    const bases = [foreign, open, group];
    for (const base of bases) oldFolder(join(base, `0.0.1-${"a".repeat(16)}`));
    chownSync(foreign, 65534, 65534);
    chmodSync(open, 0o777);
    chmodSync(group, 0o775);
    assert.deepEqual(pruneBundles(bases), {});
    for (const base of bases) assert.equal(readdirSync(base).length, 1);
  } finally {
    dir.remove();
  }
});
