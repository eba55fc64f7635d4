import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { watchForReload } from "../src/master/reloader.ts";

// The inotify watches this process holds (a real kernel resource: max_user_watches is per user).
function inotifyWatches(): number {
  let watches = 0;
  for (const fd of readdirSync("/proc/self/fdinfo")) {
    try {
      const info = readFileSync(`/proc/self/fdinfo/${fd}`, "latin1");
      watches += info.split("\n").filter((line) => line.startsWith("inotify wd:")).length;
    } catch {
      // Closed meanwhile.
    }
  }
  return watches;
}

Deno.test("watchForReload(): node_modules, dist and hidden folders (.git, .cache) under the project root are not watched", async () => {
  const root = mkdtempSync(join(tmpdir(), "appserve-reloader-"));
  try {
    writeFileSync(join(root, "package.json"), "{}\n");
    mkdirSync(join(root, "src"));
    writeFileSync(join(root, "src", "app.ts"), "export default {};\n");
    for (const skipped of ["node_modules", ".git", "dist", ".cache"]) {
      for (let i = 0; i < 40; i++) {
        mkdirSync(join(root, skipped, `p${i}`, "lib"), { recursive: true });
      }
    }
    const before = inotifyWatches();
    const changed: string[] = [];
    const { stop } = watchForReload(join(root, "src", "app.ts"), [], (file) => changed.push(file));
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const added = inotifyWatches() - before;
      // The root and src/ (a runtime may add one for the extra files it watches itself).
      assert.ok(added <= 4, `${added} inotify watches for a project of 2 folders`);
      // A folder made after the start is watched too.
      mkdirSync(join(root, "lib"));
      await new Promise((resolve) => setTimeout(resolve, 200));
      writeFileSync(join(root, "lib", "message.ts"), "export const m = 2;\n");
      for (let i = 0; i < 50 && !changed.length; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.deepEqual(changed, [join(root, "lib", "message.ts")]);
      // A file of a folder there from the start is named by its own path.
      changed.length = 0;
      writeFileSync(join(root, "src", "app.ts"), "export default { v: 2 };\n");
      for (let i = 0; i < 50 && !changed.length; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.deepEqual(changed, [join(root, "src", "app.ts")]);
    } finally {
      stop();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
