// Renders the effective configuration as TOML that, read back with -c, gives
// the same configuration (gunicorn's --print-config, but loadable).

import { resolve } from "node:path";
import { stringify } from "smol-toml";
import { isWired } from "../cli/help.ts";
import { SECTIONS, SETTINGS, type SettingSpec } from "./settings.ts";
import type { Resolved } from "./resolve.ts";

// Relative paths from the command line are relative to the working directory,
// but in a config file they would be relative to the file: print them absolute.
function absolute(spec: SettingSpec, value: unknown, cwd: string): unknown {
  if (!spec.path || typeof value !== "string" || value === "" || value === "-") return value;
  return resolve(cwd, value);
}

function isTable(value: unknown): value is Record<string, string> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

// A table (secure_scheme_headers) stays on its line: as a [section] it would swallow the
// settings printed after it.
function inlineTable(name: string, table: Record<string, string>): string {
  // TOML basic strings share JSON's escapes for what JSON.stringify emits.
  const pairs = Object.entries(table).map(([k, v]) =>
    `${JSON.stringify(k)} = ${JSON.stringify(v)}`
  );
  return `${name} = { ${pairs.join(", ")} }`;
}

export function renderConfig(resolved: Resolved, cwd: string): string {
  const values = resolved.config as unknown as Record<string, unknown>;
  const out = ["# Effective appserve configuration; origin of each value in the comment."];
  for (const section of SECTIONS) {
    const specs = (SETTINGS as readonly SettingSpec[]).filter(
      (s) => s.section === section && isWired(s) && s.name !== "config",
    );
    if (!specs.length) continue;
    out.push("", `# ${section}`);
    for (const spec of specs) {
      const value = absolute(spec, values[spec.name], cwd);
      const line = isTable(value)
        ? inlineTable(spec.name, value)
        : stringify({ [spec.name]: value }).trim();
      out.push(`${line}  # ${resolved.origins[spec.name]}`);
    }
  }
  return out.join("\n") + "\n";
}
