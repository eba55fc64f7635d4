// What "appserve" resolves to in the user's modules under a Deno worker (the import map the
// master gives `deno run` maps it here, unless the project maps "appserve" itself): the running
// process's own exports, which src/runtime/deno.ts provideModule() stored on globalThis, so a
// logger class extends the very Logger the worker checks against. Bundled to appserve.js.

// deno-lint-ignore no-explicit-any
type Provided = Record<string, any>;

const provided = (globalThis as Record<symbol, Provided | undefined>)[
  Symbol.for("appserve.module:appserve")
];
if (!provided) throw new Error('"appserve" can only be imported inside an appserve process');

export const { Logger, VERSION, main, upgradeWebSocket } = provided;
