// messageText: a WebSocket text message's string, the same as Buffer's decoding gives, on both
// sides of the size where it switches to TextDecoder.

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { messageText } from "../src/http/websocket/message_text.ts";

Deno.test("messageText() decodes as Buffer does, short and long, a leading BOM kept", () => {
  const samples = [
    "",
    "a",
    "\ufeffhello",
    "\ufeff" + "x".repeat(500),
    "héllo wörld ✓ 😀",
    "😀".repeat(40), // 160 bytes: past the switch
    "é".repeat(63) + "😀", // a four-byte character across 127/128 bytes
    "hello world, ".repeat(1261),
  ];
  for (let n = 120; n < 140; n++) samples.push("ü".repeat(n >> 1) + "a".repeat(n & 1));
  for (const s of samples) {
    const bytes = Buffer.from(s, "utf8");
    assert.equal(messageText(bytes), bytes.toString("utf8"), JSON.stringify(s.slice(0, 20)));
    assert.equal(messageText(bytes), s);
  }
});

Deno.test("messageText() reads only the message's bytes of a larger buffer", () => {
  const whole = Buffer.from("ignored-" + "m".repeat(300) + "-ignored", "utf8");
  assert.equal(messageText(whole.subarray(8, 308)), "m".repeat(300));
  assert.equal(messageText(whole.subarray(8, 18)), "m".repeat(10));
});
