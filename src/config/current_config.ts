// gunicorn's "Current configuration:" DEBUG line at start: every setting, sorted by name, one
// `  name: value` line each, the values as --print-config writes them.

import { renderValue } from "./print_config.ts";
import { isWired } from "./settings_doc.ts";
import { type Config, SETTINGS, type SettingSpec } from "./settings.ts";

// raw_env is where secrets go (`-e DATABASE_URL=postgres://user:password@...`): the names are
// said, the values are not. No other setting holds one (TLS keys are files, named by path).
function redacted(spec: SettingSpec, value: unknown): unknown {
  if (spec.name !== "raw_env" || !Array.isArray(value)) return value;
  return value.map((entry) => `${String(entry).split("=", 1)[0]}=<hidden>`);
}

/** The message: `Current configuration:` and one line per setting. */
export function currentConfiguration(config: Config, cwd: string): string {
  const values = config as unknown as Record<string, unknown>;
  const specs = (SETTINGS as readonly SettingSpec[]).filter(isWired)
    .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const lines = specs.map((spec) =>
    `  ${spec.name}: ${renderValue(spec, redacted(spec, values[spec.name]), cwd)}`
  );
  return ["Current configuration:", ...lines].join("\n");
}
