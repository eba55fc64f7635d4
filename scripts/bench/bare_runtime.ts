// The floors the memory bench measures appserve against: what the runtime itself costs before any
// of appserve's code, so a target that sits below the floor is shown to be out of reach.
// Usage: bare_runtime.ts idle | master | net PORT | contract PORT | fork PORT
//        (prints "ready" on stdout)
//   idle:   nothing but a timer (the runtime's own RSS)
//   master: libc through appserve's FFI and one spawned child (what any appserve master must do)
//   net:    a node:net listener answering every request with one fixed reply (the worker's floor)
//   contract: the same, building per request the Request and Response any fetch server owes its
//           app (fixed_reply.ts): the loaded floor of a fetch server on node:net
//   fork:   starts this program again as `net PORT` (the start-up floor of any pre-fork server:
//           two runtime starts, one after the other)

// Each mode imports only what it uses (dynamic imports): a module loaded is memory spent, and in
// Deno the first `node:` module alone costs about 5 MB, so `idle` reads its arguments without one.

const runtime = globalThis as { Deno?: { args: string[] }; process?: { argv: string[] } };
const [mode, port] = runtime.Deno ? runtime.Deno.args : runtime.process!.argv.slice(2);
const ready = (): void => console.log("ready");

if (mode === "idle") {
  setInterval(() => {}, 60_000);
  ready();
} else if (mode === "master") {
  const { detectRuntime } = await import("../../src/runtime/mod.ts");
  const { spawn } = await import("node:child_process");
  (await detectRuntime()).libc();
  // The bench kills the process group, this child with it.
  spawn("sleep", ["3600"], { stdio: "ignore" });
  setInterval(() => {}, 60_000);
  ready();
} else if (mode === "net" && Number(port) > 0) {
  const reply = new TextEncoder().encode(
    "HTTP/1.1 200 OK\r\ncontent-type: text/plain;charset=UTF-8\r\ncontent-length: 12\r\n\r\n" +
      "Hello World!",
  );
  const { createServer } = await import("node:net");
  createServer((socket) => {
    socket.on("data", () => socket.write(reply));
    socket.on("error", () => socket.destroy());
  }).listen({ host: "127.0.0.1", port: Number(port) }, ready);
} else if (mode === "contract" && Number(port) > 0) {
  const { fetchContract, fixedReplyServer } = await import("./fixed_reply.ts");
  fixedReplyServer(fetchContract).listen({ host: "127.0.0.1", port: Number(port) }, ready);
} else if (mode === "fork" && Number(port) > 0) {
  const { spawn } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const { execPath, argv } = await import("node:process");
  const self = runtime.Deno
    ? ["run", "-A", fileURLToPath(import.meta.url)]
    : import.meta.url.includes("$bunfs")
    ? [] // a compiled program is its own executable
    : [argv[1]];
  spawn(execPath, [...self, "net", port], { stdio: "inherit" });
} else {
  console.error(
    "bare_runtime: usage: bare_runtime.ts idle | master | net PORT | contract PORT | fork PORT",
  );
  const { exit } = await import("node:process");
  exit(2);
}
