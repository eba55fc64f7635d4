// hideOwnFrames(): which call sites are appserve's, and how an app's own Error.prepareStackTrace
// is composed with the hook (the e2e side: tests/e2e/app_printed_stack_test.ts).

import assert from "node:assert/strict";
import { join } from "node:path";
import { hideOwnFrames, withoutOwnSites } from "../src/app/own_frames.ts";
import { ROOT } from "./_helpers.ts";

const site = (file: string | null) => ({ getFileName: () => file, toString: () => String(file) });

Deno.test("withoutOwnSites() leaves out appserve's sites and the runtime's among them", () => {
  const sites = [
    site("/srv/app/main.ts"),
    site(null), // Array.map (<anonymous>), between the user's frames: kept
    site("file:///srv/app/main.ts"),
    site(join(ROOT, "src", "worker", "async.ts")),
    site("node:events"), // the server's emit, among appserve's: left out
    site(`file://${join(ROOT, "workers", "process_entry.ts")}`),
    site("/$bunfs/root/appserve"),
  ];
  assert.deepEqual(withoutOwnSites(sites), sites.slice(0, 3));
});

Deno.test("withoutOwnSites() keeps the sites of a stack with none of the user's", () => {
  const sites = [site(join(ROOT, "src", "errors.ts")), site("node:events"), site(null)];
  assert.deepEqual(withoutOwnSites(sites), sites);
});

Deno.test("hideOwnFrames() composes with the app's Error.prepareStackTrace", () => {
  hideOwnFrames();
  const made = () => new Error("made");
  assert.match(
    made().stack!,
    /^Error: made\n {4}at made \(file:\/\/\/.*own_frames_test\.ts:\d+:\d+\)\n/,
  );
  // deno-lint-ignore no-explicit-any
  const hooked = Error as any;
  const read = hooked.prepareStackTrace;
  // An app's hook that calls the one it read gets its stack of the sites it was given.
  hooked.prepareStackTrace = (error: Error, sites: unknown[]) =>
    `app's ${sites.length}: ${read(error, sites)}`;
  assert.match(made().stack!, /^app's \d+: Error: made\n {4}at made \(file:\/\/\//);
  // The callsites package's way: sites as the stack, then what was read set back.
  const before = hooked.prepareStackTrace;
  hooked.prepareStackTrace = (_: Error, sites: unknown[]) => sites;
  const sites = new Error().stack as unknown as { getFileName(): string }[];
  hooked.prepareStackTrace = before;
  assert.ok(Array.isArray(sites) && sites[0].getFileName().endsWith("own_frames_test.ts"));
  assert.match(made().stack!, /^app's/);
  // Unset: Deno's stack again.
  hooked.prepareStackTrace = undefined;
  assert.match(made().stack!, /^Error: made\n/);
});
