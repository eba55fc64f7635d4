// Renders the effective configuration as TOML that, read back with -c, gives
// the same configuration (gunicorn's --print-config, but loadable).

import { resolve } from "node:path";
import { stringify } from "npm:smol-toml@1.9.1";
import { isWired } from "./settings_doc.ts";
import { SECTIONS, SETTINGS, type SettingSpec } from "./settings.ts";
import type { Resolved } from "./resolve.ts";

// Relative paths from the command line are relative to the working directory,
// but in a config file they would be relative to the file: print them absolute.
function absolute(spec: SettingSpec, value: unknown, cwd: string): unknown {
  if (!spec.path || typeof value !== "string" || value === "" || value === "-") return value;
  return resolve(cwd, value);
}

// Tables print inline (`logging = { master = { level = "debug" } }`): a [table]
// header would swallow the settings printed after it.
function toml(value: unknown): string {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const parts = Object.entries(value).map(([k, v]) =>
      `${/^[\w-]+$/.test(k) ? k : JSON.stringify(k)} = ${toml(v)}`
    );
    return parts.length ? `{ ${parts.join(", ")} }` : "{}";
  }
  return stringify({ v: value }).trim().slice("v = ".length);
}

/** One setting's value as --print-config writes it (TOML; relative paths made absolute). */
export function renderValue(spec: SettingSpec, value: unknown, cwd: string): string {
  return spec.type.toToml ? spec.type.toToml(value) : toml(absolute(spec, value, cwd));
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
      const value = renderValue(spec, values[spec.name], cwd);
      out.push(`${spec.name} = ${value}  # ${resolved.origins[spec.name]}`);
    }
  }
  return out.join("\n") + "\n";
}
