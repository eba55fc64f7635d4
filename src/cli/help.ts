// Renders --help from the settings table, grouped by section with defaults,
// and `--help SETTING` / `--help settings` from the same text as docs/settings.md.
// Settings whose behaviour is not built yet are left out.

import { didYouMean } from "../config/_did_you_mean.ts";
import {
  defaultText,
  isWired,
  renderSettingDoc,
  renderSettingsDoc,
} from "../config/settings_doc.ts";
import { SECTIONS, SETTINGS, type SettingSpec } from "../config/settings.ts";
import { gunicornOnly } from "../config/gunicorn_only.ts";
import { ACTION_FLAGS } from "../config/sources.ts";
import { UsageError } from "../errors.ts";

/** The first sentence of a doc text: a period ends it only outside parentheses and "e.g.". */
export function firstSentence(doc: string): string {
  let depth = 0;
  for (let i = 0; i < doc.length; i++) {
    const c = doc[i];
    if (c === "(") depth++;
    else if (c === ")") depth = Math.max(0, depth - 1);
    else if (
      c === "." && depth === 0 && (i + 1 === doc.length || doc[i + 1] === " ") &&
      !/\b(e\.g|i\.e|etc|vs)$/.test(doc.slice(0, i))
    ) {
      return doc.slice(0, i + 1);
    }
  }
  return doc.replace(/\.?$/, ".");
}

export function renderHelp(): string {
  const out = [
    "usage: appserve [OPTIONS] [APP_MODULE]",
    "       appserve --help [SETTING | settings]",
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
      const summary = firstSentence(spec.doc);
      if (head.length < 34) out.push(head.padEnd(34) + summary);
      else out.push(head, " ".repeat(34) + summary);
      out.push(" ".repeat(34) + `[${spec.name}; default: ${defaultText(spec)}]`);
    }
  }
  out.push(
    "",
    "Settings can also be given in appserve.toml and APPSERVE_CMD_ARGS. `appserve --help SETTING`",
    "(e.g. `appserve --help umask` or `--help --socket-mode`) prints a setting's full",
    "documentation, `appserve --help settings` all of it (the text of docs/settings.md).",
  );
  return out.join("\n") + "\n";
}

/**
 * `--help TOPIC`: one setting's documentation, by name (`socket_mode`) or flag
 * (`--socket-mode`, `socket-mode`, `-m`), or every setting's for `settings`. An app module
 * (`appserve -h mod:app`, `-h app.ts`: a `.`, `:` or `/` in it) gets the general help, as
 * gunicorn's `-h` does whatever follows it; any other topic that names no setting is a usage
 * error, with a did-you-mean when one is close.
 */
export function renderTopicHelp(topic: string): string {
  if (topic === "settings") return renderSettingsDoc();
  const wired = (SETTINGS as readonly SettingSpec[]).filter(isWired);
  const word = topic.replace(/^-+/, "");
  const spec = wired.find((s) =>
    s.name === word || s.name === word.replaceAll("-", "_") ||
    (s.flags ?? []).some((f) => f.replace(/^-+/, "") === word)
  );
  if (spec) return renderSettingDoc(spec) + "\n";
  // A setting carried over from gunicorn gets the answer using it gets.
  const planned = (SETTINGS as readonly SettingSpec[]).find((s) =>
    !isWired(s) && (s.name === word.replaceAll("-", "_") ||
      (s.flags ?? []).some((f) => f.replace(/^-+/, "") === word))
  );
  if (planned) return `"${planned.name}" is not supported yet (${planned.pending})\n`;
  const notHere = gunicornOnly(word) ?? gunicornOnly(`--${word}`) ??
    gunicornOnly(word.replaceAll("-", "_"));
  if (notHere) return `"${word}" is ${notHere}\n`;
  const known = [...wired.map((s) => s.name), "settings"];
  const near = didYouMean(word.replaceAll("-", "_"), known);
  if (!topic.startsWith("-") && !near && /[.:/]/.test(topic)) return renderHelp();
  throw new UsageError(
    `No setting "${topic}"${near}; ` +
      "`appserve --help settings` lists them all",
  );
}
