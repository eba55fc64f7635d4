// osReason(): strerror's words for what a spawn or a file operation failed with, the same under
// both runtimes, whose own messages differ (Bun: "ENOEXEC: unknown error, posix_spawn '…'").

import assert from "node:assert/strict";
import { osReason } from "../src/errors.ts";

Deno.test("osReason() words a spawn's ENOEXEC (a +x file that is no program) as strerror does", () => {
  const bun = Object.assign(new Error("ENOEXEC: unknown error, posix_spawn '/x/appserve'"), {
    code: "ENOEXEC",
  });
  assert.equal(osReason(bun), "Exec format error (not a program this system can run)");
  assert.equal(
    osReason(Object.assign(new Error("x"), { code: "ENOENT" })),
    "No such file or directory",
  );
});
