// Renders --help from the settings table, grouped by section with defaults.
// Settings whose behaviour is not built yet are left out.

import { SECTIONS, SETTINGS, type SettingSpec } from "../config/settings.ts";
import { ACTION_FLAGS } from "../config/sources.ts";

/** How a setting's default reads for people. */
export function defaultText(spec: SettingSpec): string {
  if (spec.defaultDoc) return spec.defaultDoc;
  return JSON.stringify(spec.default);
}

/** True when a setting can be used today (it is listed in --help). */
export function isWired(spec: SettingSpec): boolean {
  return spec.pending === undefined;
}

export function renderHelp(): string {
  const out = [
    "usage: appserve [OPTIONS] [APP_MODULE]",
    "",
    "Serve a Web-standard fetch app (APP_MODULE = PATH[:EXPR]) with pre-forked workers.",
    "",
    "Actions:",
  ];
  for (const [flag, action] of Object.entries(ACTION_FLAGS)) {
    const short = "short" in action ? `-${action.short}, ` : "    ";
    out.push(`  ${short}--${flag}`.padEnd(34) + action.doc);
  }
  for (const section of SECTIONS) {
    const specs = (SETTINGS as readonly SettingSpec[]).filter((s) =>
      s.section === section && s.flags && isWired(s)
    );
    if (!specs.length) continue;
    out.push("", `${section}:`);
    for (const spec of specs) {
      const head = `  ${spec.flags!.join(", ")}${spec.metavar ? ` ${spec.metavar}` : ""}`;
      const summary = spec.doc.split(". ")[0].replace(/\.$/, "") + ".";
      if (head.length < 34) out.push(head.padEnd(34) + summary);
      else out.push(head, " ".repeat(34) + summary);
      out.push(" ".repeat(34) + `[${spec.name}; default: ${defaultText(spec)}]`);
    }
  }
  out.push(
    "",
    "Settings can also be given in appserve.toml and APPSERVE_CMD_ARGS; see docs/settings.md.",
  );
  return out.join("\n") + "\n";
}
