// request.url as the README says: on the shared socket the parsed URL's own form, as under
// Bun.serve (dot segments resolved, raw UTF-8 and `"<>` percent-encoded); under --reuse-port the
// runtime's own: Bun.serve's the same, Deno.serve's the target as the client sent it.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { e2e, FIXTURES, freePort, start } from "../_helpers.ts";
import { rawExchange } from "../_raw.ts";

const APP = join(FIXTURES, "apps", "url_app.ts");
// "/pé/../x?q=é"<>" in UTF-8, as a client that does not encode sends it.
const TARGET = Buffer.from('/p\u00e9/../x?q=\u00e9"<>', "utf8");
const PARSED = "http://x/x?q=%C3%A9%22%3C%3E";
const RAW = 'http://x/p\u00e9/../x?q=\u00e9"<>';

for (const [name, args] of [["the shared socket", []], ["--reuse-port", ["--reuse-port"]]]) {
  e2e(`request.url of a raw UTF-8 target with dot segments, on ${name}`, async (target) => {
    const port = await freePort();
    const server = start(target, ["-w", "1", ...args, "-b", `127.0.0.1:${port}`, APP]);
    try {
      await server.ready(1);
      const request = Buffer.concat([
        Buffer.from("GET ", "latin1"),
        TARGET,
        Buffer.from(" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "latin1"),
      ]);
      const answer = await rawExchange(port, request);
      assert.equal(answer.status, 200, answer.text);
      const body = Buffer.from(answer.text.slice(answer.text.indexOf("\r\n\r\n") + 4), "latin1");
      const native = args.length > 0 && target.workers === "deno";
      assert.equal(body.toString("utf8"), native ? RAW : PARSED);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });
}
