// HUP's books: how many workers of the newest generation may start while older ones are about.

import assert from "node:assert/strict";
import { Generations, type Running } from "../src/master/generations.ts";

const running = (name: string) =>
  ({ config: { name }, launch: {}, hooks: {} }) as unknown as Running;

Deno.test("no reload: the new generation's room is not limited", () => {
  const generations = new Generations();
  assert.equal(generations.room([{ generation: 0, retiring: false }], 2), Infinity);
});

Deno.test("a superseded generation's workers still exiting take the booting generation's room", () => {
  const generations = new Generations();
  const ctx = running("first");
  const serving = [0, 0].map((generation) => ({ generation, retiring: false }));
  generations.begin(ctx, running("second"));
  assert.equal(generations.room(serving, 2), 2);
  // A second HUP while generation 1 boots: its two workers were told to stop, and still exit.
  const superseded = [1, 1].map((generation) => ({ generation, retiring: true }));
  generations.begin(ctx, running("third"));
  assert.equal(generations.current, 2);
  assert.equal(generations.room([...serving, ...superseded], 2), 0);
  assert.equal(generations.room([...serving, superseded[0]], 2), 1);
  // The newest generation's own recycling worker waits for its replacement: no room taken.
  const newest = [{ generation: 2, retiring: false }, { generation: 2, retiring: true }];
  assert.equal(generations.room([...serving, ...newest], 2), 1);
  // The serving generation stays the first one (its configuration for a rollback).
  generations.rollback(ctx);
  assert.equal((ctx.config as unknown as { name: string }).name, "first");
  assert.equal(generations.current, 0);
});
