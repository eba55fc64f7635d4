// Accept errors of a listener (src/net/accept_errors.ts): said once per interval with a count of
// the ones in between, and a real listening server that emits one keeps accepting.

import assert from "node:assert/strict";
import net from "node:net";
import { AcceptErrors } from "../src/net/accept_errors.ts";

function emfile(): Error {
  return Object.assign(new Error("accept: too many open files"), { code: "EMFILE" });
}

Deno.test("AcceptErrors says the first error, then at most one per interval with a count", () => {
  const said: string[] = [];
  let now = 1000;
  const errors = new AcceptErrors((m) => said.push(m), { everyMs: 10_000, now: () => now });
  errors.handle(emfile());
  errors.handle(emfile());
  errors.handle(emfile());
  assert.deepEqual(said, ["Accept failed: EMFILE: accept: too many open files; still accepting"]);
  now += 10_000;
  errors.handle(new Error("boom"));
  assert.equal(said.length, 2);
  assert.equal(said[1], "Accept failed: boom (and 2 more since the last report); still accepting");
});

Deno.test("a server whose accept errors go to AcceptErrors says them and keeps accepting", async () => {
  const said: string[] = [];
  const errors = new AcceptErrors((m) => said.push(m));
  const server = net.createServer((socket) => socket.end("ok"));
  await new Promise<void>((resolve) => server.listen({ port: 0, host: "127.0.0.1" }, resolve));
  server.on("error", errors.handle);
  // What the runtime does when accept(2) fails: an 'error' event on the listening server.
  server.emit("error", emfile());
  const port = (server.address() as net.AddressInfo).port;
  const reply = await new Promise<string>((resolve, reject) => {
    const c = net.connect({ port, host: "127.0.0.1" });
    let text = "";
    c.on("data", (d) => text += d.toString());
    c.on("end", () => resolve(text));
    c.on("error", reject);
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.equal(reply, "ok");
  assert.equal(said.length, 1);
  assert.match(said[0], /EMFILE/);
});
