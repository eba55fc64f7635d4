import assert from "node:assert/strict";
import { PIPE_BUF, pipePieces } from "../src/log/pipe_writes.ts";

const encoder = new TextEncoder();
const line = (length: number, c = "a") => c.repeat(length - 1) + "\n";

Deno.test("pipePieces: pieces of at most PIPE_BUF end at line ends; a long line goes alone", () => {
  const text = line(1000).repeat(9) + line(PIPE_BUF + 10, "b") + line(3000, "c") + "tail";
  const pieces = pipePieces(encoder.encode(text)).map((p) => new TextDecoder().decode(p));
  assert.equal(pieces.join(""), text);
  assert.deepEqual(pieces.map((p) => p.length), [4000, 4000, 1000, PIPE_BUF + 10, 3004]);
  for (const piece of pieces.slice(0, -1)) assert.ok(piece.endsWith("\n"));
  assert.equal(pipePieces(encoder.encode(line(PIPE_BUF))).length, 1);
});
