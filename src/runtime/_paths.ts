// Where the program's own entry points live on disk, for re-executing itself
// under `deno run` / `bun` (the compiled binary re-executes its own file).

export const WORKER_ENTRY = new URL("../../workers/process_entry.ts", import.meta.url);
export const THREAD_ENTRY = new URL("../../workers/thread_entry.ts", import.meta.url);
export const CLI_ENTRY = new URL("../cli/main.ts", import.meta.url);
