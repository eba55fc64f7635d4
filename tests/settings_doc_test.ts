import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { defaultText, isWired } from "../src/config/settings_doc.ts";
import { renderHelp } from "../src/cli/help.ts";
import { renderSettingsFile } from "../src/config/settings_doc.ts";
import { SETTINGS, type SettingSpec } from "../src/config/settings.ts";
import { ROOT } from "./_helpers.ts";

Deno.test("docs/settings.md is generated from the settings table and up to date", () => {
  const committed = readFileSync(join(ROOT, "docs", "settings.md"), "utf8");
  assert.equal(committed, renderSettingsFile(), "run `deno task docs`");
});

Deno.test("--help lists every wired setting's flags and no setting that is not built yet", () => {
  const help = renderHelp();
  for (const spec of SETTINGS as readonly SettingSpec[]) {
    for (const flag of spec.flags ?? []) {
      const listed = new RegExp(`(^|[ ,])${flag}([ ,]|$)`, "m").test(help);
      assert.equal(listed, isWired(spec), `${flag} listed: ${listed}`);
    }
  }
});

Deno.test("VERSION matches package.json and deno.json", async () => {
  const { VERSION } = await import("../src/version.ts");
  for (const file of ["package.json", "deno.json"]) {
    assert.equal(JSON.parse(readFileSync(join(ROOT, file), "utf8")).version, VERSION, file);
  }
});

Deno.test("each setting's default reads as one code span: no backtick inside it", () => {
  for (const spec of SETTINGS as readonly SettingSpec[]) {
    assert.ok(!defaultText(spec).includes("`"), `${spec.name}: ${defaultText(spec)}`);
  }
});

Deno.test("docs/settings.md has no empty section", () => {
  const sections = renderSettingsFile().split(/^## /m).slice(1);
  for (const section of sections) {
    const body = section.split("\n").slice(1).join("\n").trim();
    assert.ok(body.length > 0, `empty section "## ${section.split("\n")[0]}"`);
    // A heading, one sentence, then nothing listed: as empty.
    assert.ok(/\n\s*[-#|]/.test(`\n${body}`), `nothing under "## ${section.split("\n")[0]}"`);
  }
});
