// Runs the whole suite with `deno test` and ends with the one line CI reads:
// "N passed, N failed".

import { spawn } from "node:child_process";
import process from "node:process";

const args = ["test", "-A", "--unstable-net", "--no-check", ...process.argv.slice(2)];
if (args.length === 4) args.push("tests/");
const child = spawn(process.execPath, args, { stdio: ["inherit", "pipe", "inherit"] });
let tail = "";
child.stdout!.on("data", (chunk: Uint8Array) => {
  process.stdout.write(chunk);
  tail = (tail + new TextDecoder().decode(chunk)).slice(-4096);
});
child.on("exit", (code) => {
  // deno test's summary: "ok | 12 passed (3 steps) | 0 failed (9s)"
  // deno-lint-ignore no-control-regex
  const plain = tail.replace(/\x1b\[[0-9;]*m/g, "");
  const summary = /(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(plain);
  const passed = summary ? Number(summary[1]) : 0;
  const failed = summary ? Number(summary[2]) : 1;
  process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
  process.exit(code === 0 && summary ? 0 : 1);
});
