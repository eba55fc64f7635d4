// The replies appserve writes itself: the cut-off's 504, whole and head-only, from one builder.

import assert from "node:assert/strict";
import { cutOffReply, cutOffReplyBodyBytes, rawStatusReply } from "../src/http/status_reply.ts";

Deno.test("cutOffReply() is the 504 status reply, and its head alone for a HEAD", () => {
  const whole = cutOffReply();
  assert.equal(whole, rawStatusReply(504));
  assert.ok(whole.startsWith("HTTP/1.1 504 Gateway Timeout\r\n"));
  assert.ok(whole.endsWith("\r\n\r\nGateway Timeout\n"));
  // The same head, content-length included (a HEAD's answer says what a GET would get).
  assert.equal(cutOffReply(true), whole.slice(0, whole.length - "Gateway Timeout\n".length));
  assert.match(cutOffReply(true), /\r\ncontent-length: 16\r\n/);
  assert.equal(cutOffReplyBodyBytes(), 16);
  assert.equal(cutOffReplyBodyBytes(true), 0);
});
