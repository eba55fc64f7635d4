// src/log/std_streams.ts in a real process whose stdout reader is gone (EPIPE): the process lives
// on, and a log writer hears of the failure even when another write (the app's) met it first.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { DENO, ROOT, tempDir } from "./_helpers.ts";
import { PATHS } from "./_procs.ts";

const BUN = join(ROOT, PATHS.bun);

const PROBE = `
import process from "node:process";
import { guardStdStreams, writeStd } from ${JSON.stringify(join(ROOT, "src/log/std_streams.ts"))};
guardStdStreams();
const pause = () => new Promise((resolve) => setTimeout(resolve, 300));
process.stdout.write("the app's own line\\n");
await pause();
writeStd("stdout", "a log line\\n", (error) =>
  console.error("heard: " + (error.code ?? error.message)));
await pause();
console.error("alive");
`;

for (
  const [runtime, command, args] of [
    ["Deno", DENO, ["run", "-A"]],
    ["Bun", BUN, []],
  ] as const
) {
  Deno.test(`${runtime}: a log line to a stdout whose reader went after the app's write met it first is dropped and heard of`, async () => {
    const dir = tempDir();
    try {
      const probe = join(dir.path, "probe.ts");
      writeFileSync(probe, PROBE);
      const child = new Deno.Command(command, {
        args: [...args, probe],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // The reader goes before the probe writes anything.
      await child.stdout.cancel();
      const { code, stderr } = await child.output();
      const text = new TextDecoder().decode(stderr);
      assert.equal(code, 0, text);
      assert.match(text, /heard: EPIPE/, text);
      assert.match(text, /alive/, text);
    } finally {
      dir.remove();
    }
  });
}
