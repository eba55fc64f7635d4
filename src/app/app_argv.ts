// The process.argv an app is imported with. `bun run app.ts` and `deno run app.ts` give
// [executable, module]; a worker's own argv is appserve's (the binary's adds Bun's
// "/$bunfs/root/appserve"), and a CLI parser an app runs at import on process.argv.slice(2)
// (parseArgs, yargs, commander) must find no arguments there, in workers and threads alike.

import process from "node:process";

/** Makes process.argv `[process.execPath, file]`, in place: under Bun, Bun.argv is that array. */
export function setAppArgv(file: string): void {
  process.argv.splice(0, process.argv.length, process.execPath, file);
}
