// The start-up line under --reuse-port about net.ipv4.tcp_migrate_req (src/master/reuse_port_migrate.ts).

import assert from "node:assert/strict";
import { migrateNote } from "../src/master/reuse_port_migrate.ts";

Deno.test("migrateNote() speaks only under --reuse-port with tcp_migrate_req at 0", () => {
  assert.match(
    migrateNote(1, () => "0\n")!,
    /tcp_migrate_req is 0.*sysctl -w net\.ipv4\.tcp_migrate_req=1/,
  );
  assert.equal(migrateNote(1, () => "1\n"), undefined);
  assert.equal(migrateNote(0, () => "0\n"), undefined);
  // A kernel before 5.14 has no such setting: nothing to advise.
  assert.equal(
    migrateNote(2, () => {
      throw new Error("ENOENT");
    }),
    undefined,
  );
});
