// Reads raw setting values from each source — the command line (and
// APPSERVE_CMD_ARGS, which uses the same parser) and a TOML file — keeping
// where each value came from so errors can name it.

import { readFileSync, statSync } from "node:fs";
import { parseArgs } from "node:util";
import { parse as parseToml, TomlError } from "npm:smol-toml@1.9.1";
import { ConfigError, UsageError } from "../errors.ts";
import { didYouMean } from "./_did_you_mean.ts";
import { GUNICORN_ONLY, gunicornOnly } from "./gunicorn_only.ts";
import { SETTINGS, SETTINGS_BY_NAME, type SettingSpec } from "./settings.ts";
import { cannotRead, NotOfType, ValueError } from "./validators.ts";

/** One raw value and where it came from (`--workers`, `appserve.toml:3:11`, ...). */
export interface RawValue {
  value: unknown;
  origin: string;
}

/** Raw values of one source, by setting name. */
export type RawLayer = Map<string, RawValue>;

/** Flags that are actions of the command line, not settings. */
export const ACTION_FLAGS = {
  help: { short: "h", doc: "Show this help (--help SETTING: that setting's) and exit." },
  version: { short: "v", doc: "Print the version and the runtime, then exit." },
  "check-config": {
    doc: "Check what a start would (app, logger, hooks, TLS, users, files), then exit.",
  },
  "print-config": {
    doc: "Print the effective configuration as TOML, then check it as --check-config does " +
      "(the app imported); exit 1 if that fails.",
  },
} as const;

export interface ParsedArgs {
  layer: RawLayer;
  positionals: string[];
  actions: Set<keyof typeof ACTION_FLAGS>;
}

type ParseArgsOption = { type: "string" | "boolean"; short?: string; multiple?: boolean };

// Long flag (without "--") → setting name; several spellings may map to one setting.
const LONG_TO_SETTING = new Map<string, string>();
const ARG_OPTIONS: Record<string, ParseArgsOption> = {};
for (const spec of SETTINGS) {
  const flags = (spec as { flags?: readonly string[] }).flags ?? [];
  const short = flags.find((f) => /^-[^-]$/.test(f))?.slice(1);
  flags.filter((f) => f.startsWith("--")).forEach((flag, i) => {
    const long = flag.slice(2);
    LONG_TO_SETTING.set(long, spec.name);
    ARG_OPTIONS[long] = {
      type: spec.type.cli,
      ...(spec.type.multiple ? { multiple: true } : {}),
      ...(i === 0 && short ? { short } : {}),
    };
  });
}
for (const [long, action] of Object.entries(ACTION_FLAGS)) {
  ARG_OPTIONS[long] = { type: "boolean", ...("short" in action ? { short: action.short } : {}) };
}

const ALL_FLAGS = Object.keys(ARG_OPTIONS).map((f) => `--${f}`);

// What gunicorn's argparse knows too: a prefix of one of its flags is as ambiguous here.
const KNOWN_LONG = [
  ...Object.keys(ARG_OPTIONS),
  ...GUNICORN_ONLY.flatMap((g) => g.flags.map((f) => f.slice(2))),
];

/**
 * The long flags (without "--") `name` stands for, as argparse's allow_abbrev reads it: itself
 * when it is one, else every flag it is a prefix of (the spellings of one setting count once).
 */
function prefixMatches(name: string): string[] {
  if (KNOWN_LONG.includes(name)) return [name];
  const hits = KNOWN_LONG.filter((long) => long.startsWith(name));
  const meant = new Set(hits.map((long) => LONG_TO_SETTING.get(long) ?? long));
  return meant.size === 1 ? hits.slice(0, 1) : hits;
}

/** The long flag `word` is (`--help` for `--hel`), or undefined when it is none or ambiguous. */
export function longFlagOf(word: string): string | undefined {
  const m = /^--([^=]+)$/.exec(word);
  const hits = m ? prefixMatches(m[1]) : [];
  return hits.length === 1 ? `--${hits[0]}` : undefined;
}

/**
 * The words with each unambiguous prefix of a long flag written out (`--work 2` is
 * `--workers 2`, `--error-log=-` is `--error-logfile=-`), as gunicorn's argparse takes them on
 * its command line and in GUNICORN_CMD_ARGS; an ambiguous one is a usage error naming the
 * candidates. A flag given whole keeps its meaning: an exact match goes first.
 */
function expandPrefixes(args: string[], where: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--") return out.concat(args.slice(i));
    const m = /^--([^=\s]+)(=.*)?$/s.exec(args[i]);
    const hits = m ? prefixMatches(m[1]) : [];
    if (hits.length > 1) {
      const candidates = hits.map((long) => `--${long}`).join(", ");
      throw new UsageError(`${where}Ambiguous option "--${m![1]}": could match ${candidates}`);
    }
    out.push(hits.length === 1 ? `--${hits[0]}${m![2] ?? ""}` : args[i]);
  }
  return out;
}

/**
 * The word of `args` that asks for help: `--help`, `-h`, or a cluster of short flags with an
 * `h` in it (`-hv`, `-Dh`), as argparse reads one; a short flag that takes a value ends the
 * cluster (`-bh` binds "h"). -1 when there is none.
 */
export function helpWordIndex(args: string[]): number {
  const byShort = new Map(
    Object.values(ARG_OPTIONS).flatMap((o) => (o.short ? [[o.short, o] as const] : [])),
  );
  return args.findIndex((word) => {
    if (word === "-h" || longFlagOf(word) === "--help") return true;
    if (!/^-[^-]/.test(word)) return false;
    for (const letter of word.slice(1)) {
      if (letter === "h") return true;
      if (byShort.get(letter)?.type !== "boolean") return false;
    }
    return false;
  });
}

function usageError(error: unknown, source: string): UsageError {
  const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
  const unknown = /^Unknown option '(-{1,2}[^']+)'/.exec(message);
  const where = source === "" ? "" : `${source}: `;
  if (unknown) {
    const flag = unknown[1].split("=")[0];
    const notHere = gunicornOnly(flag);
    if (notHere) return new UsageError(`${where}${flag} is ${notHere}`);
    return new UsageError(`${where}Unknown option "${flag}"${didYouMean(flag, ALL_FLAGS)}`);
  }
  // `--deno-flags -A`: a word starting with "-" (and without a space) is no value.
  const ambiguous = /^Option '(-{1,2}[^']+)' argument is ambiguous/.exec(message);
  if (ambiguous) {
    const flag = ambiguous[1];
    return new UsageError(
      `${where}${flag} needs a value; give one that starts with "-" as ${flag}=VALUE`,
    );
  }
  return new UsageError(`${where}${message.replace(/\. To specify a positional.*$/, "")}`);
}

// Flags that may stand alone (bareValue): `--proxy-protocol app.ts` means auto, then the app.
const BARE = new Map<string, { value: string; accepts: (word: string) => boolean }>();
for (const spec of SETTINGS as readonly SettingSpec[]) {
  if (spec.bareValue === undefined) continue;
  const accepts = (word: string) => {
    try {
      spec.type.parse(word);
      return true;
    } catch {
      return false;
    }
  };
  for (const flag of spec.flags ?? []) BARE.set(flag, { value: spec.bareValue, accepts });
}

// Flags that take a value, as typed: `--deno-flags` and `-e`.
const TAKES_VALUE = new Set<string>();
for (const [long, option] of Object.entries(ARG_OPTIONS)) {
  if (option.type !== "string") continue;
  TAKES_VALUE.add(`--${long}`);
  if (option.short) TAKES_VALUE.add(`-${option.short}`);
}

function withBareValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    // A word with a space is a value even when it starts with "-", as argparse takes it
    // (`--deno-flags "-A --unstable-kv"`); parseArgs alone would call it ambiguous.
    const value = args[i + 1];
    if (
      TAKES_VALUE.has(args[i]) && value !== undefined && value.startsWith("-") &&
      value.includes(" ")
    ) {
      out.push(args[i].startsWith("--") ? `${args[i]}=${value}` : args[i] + value);
      i++;
      continue;
    }
    out.push(args[i]);
    const bare = BARE.get(args[i]);
    const next = args[i + 1];
    if (bare && (next === undefined || next.startsWith("-") || !bare.accepts(next))) {
      out.push(bare.value);
    }
  }
  return out;
}

/** Parses command-line words; `source` names them in errors ("" for argv). */
export function parseCommandLine(args: string[], source = ""): ParsedArgs {
  const where = source === "" ? "" : `${source}: `;
  let parsed;
  try {
    parsed = parseArgs({
      args: withBareValues(expandPrefixes(args, where)),
      options: ARG_OPTIONS,
      strict: true,
      allowPositionals: true,
      tokens: true,
    });
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw usageError(error, source);
  }
  const origin = (long: string) => source === "" ? `--${long}` : `${source} --${long}`;
  // argparse's type=: a word the flag's type cannot read (`-w abc`) is a usage error, every
  // word given (a later `-w 2` does not excuse it) and before any file is read. A value of the
  // type that fails a check (`-w 0`) is left to resolveConfig: a configuration error.
  for (const token of parsed.tokens) {
    if (token.kind !== "option" || token.value === undefined) continue;
    const name = LONG_TO_SETTING.get(token.name);
    if (name === undefined) continue;
    try {
      SETTINGS_BY_NAME.get(name)!.type.parse(token.value);
    } catch (error) {
      if (!(error instanceof ValueError)) throw error;
      if (error instanceof NotOfType) {
        throw new UsageError(cannotRead(origin(token.name), name, error));
      }
    }
  }
  const layer: RawLayer = new Map();
  const actions = new Set<keyof typeof ACTION_FLAGS>();
  for (const [long, value] of Object.entries(parsed.values)) {
    if (long in ACTION_FLAGS) {
      if (value) actions.add(long as keyof typeof ACTION_FLAGS);
      continue;
    }
    const name = LONG_TO_SETTING.get(long)!;
    layer.set(name, { value, origin: origin(long) });
  }
  return { layer, positionals: parsed.positionals, actions };
}

// Where a top-level key's value starts in TOML text, for line:column errors.
function keyPosition(text: string, key: string): string {
  const lines = text.split("\n");
  const pattern = new RegExp(`^\\s*["']?${key}["']?\\s*=\\s*`);
  for (let i = 0; i < lines.length; i++) {
    const m = pattern.exec(lines[i]);
    if (m) return `${i + 1}:${m[0].length + 1}`;
  }
  return "1:1";
}

/** Reads a TOML config file into a raw layer; every problem is a ConfigError. */
export function readTomlFile(path: string, shownAs: string): RawLayer {
  let text: string;
  try {
    if (statSync(path).isDirectory()) {
      throw new ConfigError(`${shownAs}: Cannot read config file: it is a directory`);
    }
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as { code?: string }).code;
    const reason = code === "ENOENT"
      ? "no such file"
      : code === "EACCES"
      ? "permission denied"
      : (error as Error).message;
    throw new ConfigError(`${shownAs}: Cannot read config file: ${reason}`);
  }
  let table: Record<string, unknown>;
  try {
    table = parseToml(text);
  } catch (error) {
    if (error instanceof TomlError) {
      const reason = error.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      throw new ConfigError(`${shownAs}:${error.line}:${error.column}: ${reason}`);
    }
    throw error;
  }
  const layer: RawLayer = new Map();
  const problems: string[] = [];
  for (const [key, value] of Object.entries(table)) {
    const origin = `${shownAs}:${keyPosition(text, key)}`;
    if (!SETTINGS_BY_NAME.has(key) || SETTINGS_BY_NAME.get(key)!.name === "config") {
      const notHere = gunicornOnly(key);
      if (notHere) {
        problems.push(`${origin}: "${key}" is ${notHere}`);
        continue;
      }
      const known = [...SETTINGS_BY_NAME.keys()].filter((k) => k !== "config");
      problems.push(`${origin}: Unknown setting "${key}"${didYouMean(key, known)}`);
      continue;
    }
    layer.set(key, { value, origin });
  }
  if (problems.length) throw new ConfigError(problems.join("\n"));
  return layer;
}
