// A master stopping removes its control socket's file, never one another master put at that path
// meanwhile (every runtime's close() unlinks the path a unix server was bound at).

import assert from "node:assert/strict";
import { existsSync, unlinkSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import process from "node:process";
import { ControlSocket } from "../src/master/control_socket.ts";
import { tempDir } from "./_helpers.ts";

const host = { umask: (mask: number) => process.umask(mask), keepFromChildren: () => {} };
const refuse = () => {};

Deno.test("close() leaves the socket file another master made at its path", async () => {
  const dir = tempDir();
  const other = createServer();
  try {
    const path = join(dir.path, "app.pid.ctl");
    const control = await ControlSocket.open(path, refuse, host);
    // Its file removed (by hand, say) and another master listening at the path.
    unlinkSync(path);
    await new Promise<void>((resolve) => other.listen(path, resolve));
    control.close();
    assert.ok(existsSync(path), "the other master's socket was removed");
  } finally {
    await new Promise((resolve) => other.close(resolve));
    dir.remove();
  }
});

Deno.test("close() removes its own socket file; moveTo() listens at the new path", async () => {
  const dir = tempDir();
  try {
    const path = join(dir.path, "app.pid.ctl");
    const control = await ControlSocket.open(`${path}.2`, refuse, host);
    assert.equal(await control.moveTo(path), undefined);
    assert.ok(!existsSync(`${path}.2`));
    assert.ok(existsSync(path));
    control.close();
    assert.ok(!existsSync(path));
  } finally {
    dir.remove();
  }
});
