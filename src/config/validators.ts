// Value types the settings table refers to. Each parses a raw value from any
// source (a TOML value, or the string given on the command line) or throws a
// ValueError whose message says what was expected.

import { parseRange } from "../net/ip_match.ts";
import { shellSplit } from "./_shell_split.ts";

/** A raw value could not be turned into a setting's type. */
export class ValueError extends Error {}

/**
 * A raw value that is not of the type at all (a word where a number goes), as opposed to one of
 * the type that fails a check (out of range). On the command line it is a usage error (exit 2),
 * as argparse's `type=int` makes it in gunicorn; a check that fails is a configuration error.
 */
export class NotOfType extends ValueError {}

/** A default's environment variable (PORT, WEB_CONCURRENCY) that cannot be read. */
export class EnvValueError extends ValueError {
  constructor(readonly variable: string, message: string) {
    super(message);
  }
}

/**
 * The environment variable `name` read as `type`, for a default; undefined when it is unset or
 * empty. A value the type refuses is an EnvValueError: the variable is its origin.
 */
export function envValue<T>(
  env: Record<string, string | undefined>,
  name: string,
  type: ValueType<T>,
): T | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  try {
    return type.parse(raw);
  } catch (error) {
    if (!(error instanceof ValueError)) throw error;
    throw new EnvValueError(name, error.message);
  }
}

/** The one wording of a value that cannot be read, wherever it came from. */
export function cannotRead(origin: string, name: string, error: ValueError): string {
  return `${origin}: Cannot read "${name}": ${error.message}`;
}

/** How a setting's value is read, checked and written back to TOML. */
export interface ValueType<T> {
  /** `string` flags take an argument; `boolean` flags do not. */
  readonly cli: "string" | "boolean";
  /** Repeatable on the command line; a later source replaces the list wholesale. */
  readonly multiple?: boolean;
  /** Human description of accepted values, used in errors and docs. */
  readonly expected: string;
  parse(raw: unknown): T;
  /** Resolves the relative paths inside a value read from a config file in `dir`. */
  withBase?(value: T, dir: string): T;
  /** The value as TOML source, where the plain rendering would hide its meaning (0o022). */
  toToml?(value: T): string;
}

function describe(raw: unknown): string {
  return typeof raw === "string" ? `"${raw}"` : JSON.stringify(raw) ?? String(raw);
}

function fail(expected: string, raw: unknown): never {
  throw new ValueError(`expected ${expected}, got ${describe(raw)}`);
}

function failType(expected: string, raw: unknown): never {
  throw new NotOfType(`expected ${expected}, got ${describe(raw)}`);
}

/** An integer type, with its bounds for those that must stop where the setting does. */
export interface IntType extends ValueType<number> {
  readonly min: number;
  readonly max: number;
}

/** An integer within [min, max]; CLI strings accept decimal, 0x and 0o forms. */
export function int(min: number, max = Number.MAX_SAFE_INTEGER): IntType {
  const expected = max === Number.MAX_SAFE_INTEGER
    ? `an integer >= ${min}`
    : `an integer from ${min} to ${max}`;
  return {
    cli: "string",
    expected,
    min,
    max,
    parse(raw) {
      let n = raw;
      if (typeof raw === "string") {
        if (!/^\s*(0x[0-9a-f]+|0o[0-7]+|0b[01]+|[+-]?\d+)\s*$/i.test(raw)) failType(expected, raw);
        n = Number(raw.trim());
      }
      if (typeof n === "bigint") n = Number(n);
      if (typeof n !== "number" || !Number.isInteger(n)) failType(expected, raw);
      if ((n as number) < min || (n as number) > max) fail(expected, raw);
      return n as number;
    },
  };
}

/** A number of seconds (fractions allowed) >= min. */
export function seconds(min = 0): ValueType<number> {
  const expected = `a number of seconds >= ${min}`;
  return {
    cli: "string",
    expected,
    parse(raw) {
      const n = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : raw;
      if (typeof n !== "number" || !Number.isFinite(n)) failType(expected, raw);
      if ((n as number) < min) fail(expected, raw);
      return n as number;
    },
  };
}

/** A flag on the command line; `true`/`false` in TOML and environment strings. */
export const bool: ValueType<boolean> = {
  cli: "boolean",
  expected: "true or false",
  parse(raw) {
    if (typeof raw === "boolean") return raw;
    if (typeof raw === "string" && /^(true|false)$/i.test(raw)) return raw.toLowerCase() === "true";
    failType("true or false", raw);
  },
};

/** Any string; `nullable` lets TOML leave it unset with "". */
export function string(expected = "a string"): ValueType<string> {
  return {
    cli: "string",
    expected,
    parse(raw) {
      if (typeof raw !== "string") fail(expected, raw);
      return raw as string;
    },
  };
}

/** A string that must pass `check`, which returns an error text or undefined. */
export function checked(
  expected: string,
  check: (s: string) => string | undefined,
): ValueType<string> {
  return {
    cli: "string",
    expected,
    parse(raw) {
      if (typeof raw !== "string") fail(expected, raw);
      const problem = check(raw as string);
      if (problem) throw new ValueError(problem);
      return raw as string;
    },
  };
}

/** Words for another program's command line, split later with shellSplit(). */
export const shellWords: ValueType<string> = checked("shell words", (s) => {
  try {
    shellSplit(s);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
});

/** One of a fixed set of words; `anyCase` also takes `WARNING` for `warning`, as gunicorn. */
export function choice<const C extends string>(
  choices: readonly C[],
  options: { anyCase?: boolean } = {},
): ValueType<C> {
  const expected = `one of ${choices.map((c) => `"${c}"`).join(", ")}`;
  return {
    cli: "string",
    expected,
    parse(raw) {
      const word = typeof raw === "string" && options.anyCase ? raw.toLowerCase() : raw;
      if (typeof word !== "string" || !choices.includes(word as C)) fail(expected, raw);
      return word as C;
    },
  };
}

/** A repeatable string; TOML accepts a string or an array of strings. */
export function list(item: ValueType<string> = string()): ValueType<string[]> {
  // The noun takes the plural, not the examples after it: "addresses such as ... fd://N".
  const [noun, examples = ""] = item.expected.replace(/^an? /, "").split(/(?= such as )/);
  const expected = `a list of ${noun}${/(s|x|z|sh|ch)$/.test(noun) ? "es" : "s"}${examples}`;
  return {
    cli: "string",
    multiple: true,
    expected,
    parse(raw) {
      const items = typeof raw === "string" ? [raw] : raw;
      if (!Array.isArray(items)) fail(expected, raw);
      return (items as unknown[]).map((i) => item.parse(i));
    },
  };
}

/** A `KEY=VALUE` pair (raw_env). */
export const keyValue: ValueType<string> = checked(
  "KEY=VALUE",
  (s) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(s) ? undefined : `expected KEY=VALUE, got "${s}"`,
);

/** A table of string values (TOML only), e.g. secure_scheme_headers. */
export const stringTable: ValueType<Record<string, string>> = {
  cli: "string",
  expected: "a table of strings",
  parse(raw) {
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      fail("a table of strings", raw);
    }
    const entries = Object.entries(raw as Record<string, unknown>);
    if (!entries.every(([, v]) => typeof v === "string")) fail("a table of strings", raw);
    return Object.fromEntries(entries) as Record<string, string>;
  },
};

function ipProblem(text: string): string | undefined {
  if (text === "*" || text === "unix") return undefined;
  try {
    parseRange(text);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** A comma-separated list (or TOML array) of IPs and CIDR ranges, `unix`, or "*". */
export const ipList: ValueType<string[]> = {
  cli: "string",
  expected: "a comma-separated list of IP addresses, CIDR ranges and unix, or *",
  parse(raw) {
    const items = typeof raw === "string"
      ? raw.split(",").map((s) => s.trim()).filter(Boolean)
      : raw;
    if (!Array.isArray(items) || !items.every((i) => typeof i === "string")) {
      fail("a comma-separated list of IP addresses, CIDR ranges and unix, or *", raw);
    }
    for (const item of items as string[]) {
      const problem = ipProblem(item);
      if (problem) throw new ValueError(problem);
    }
    return items as string[];
  },
};

const modeInt = int(0, 0o777);

/**
 * A file mode such as 0o022, 022, 0x12 or 18. A leading 0 means octal, as in gunicorn's auto_int
 * and in chmod: `--umask 027` read as decimal would leave files world-readable.
 */
export const fileMode: ValueType<number> = {
  ...modeInt,
  parse(raw) {
    const octal = typeof raw === "string" ? /^\s*0(\d+)\s*$/.exec(raw) : null;
    if (!octal) return modeInt.parse(raw);
    if (/[89]/.test(octal[1])) failType(`${modeInt.expected} (a leading 0 means octal)`, raw);
    return modeInt.parse(`0o${octal[1]}`);
  },
  toToml: (value) => `0o${value.toString(8).padStart(3, "0")}`,
};

const OCTAL_MODE = 'octal permission bits such as "660", read as chmod reads them';

/**
 * Permission bits always read as octal, as chmod reads them (`660`, `0660`, `0o660`), or null
 * for unset (""). A string even in TOML: `socket_mode = 660` there would be the decimal 660.
 */
export const octalMode: ValueType<number | null> = {
  cli: "string",
  expected: OCTAL_MODE,
  parse(raw) {
    if (raw === "" || raw === null) return null;
    const digits = typeof raw === "string" ? /^\s*(?:0o)?0*([0-7]{1,4})\s*$/i.exec(raw) : null;
    if (!digits) {
      if (typeof raw === "number") {
        throw new NotOfType(
          `expected ${OCTAL_MODE}, written as a string ("660"; a TOML number is read as ` +
            `decimal), got ${raw}`,
        );
      }
      failType(OCTAL_MODE, raw);
    }
    const mode = parseInt(digits![1], 8);
    if (mode > 0o777) fail(`${OCTAL_MODE}, at most 777`, raw);
    return mode;
  },
  // As it was written: "660", or "" for unset.
  toToml: (value) => JSON.stringify(value === null ? "" : value.toString(8).padStart(3, "0")),
};

/**
 * dogstatsd tags, comma-separated (`env:prod,role:web`), or "" for none. A `|`, `#` or
 * space would end the tag section of the datagram early, and the statsd client would
 * rewrite an `@` (a sample rate's mark) to `_`, so they are refused.
 */
export const dogstatsdTags = checked("comma-separated tags", (s) => {
  if (s === "") return undefined;
  const bad = s.split(",").find((tag) => tag === "" || /[|#@\s]/.test(tag));
  if (bad === undefined) return undefined;
  return bad === ""
    ? `expected comma-separated tags, got an empty tag in "${s}"`
    : `a tag cannot hold "|", "#", "@" or spaces: "${bad}"`;
});

/** HOST:PORT, or "" for unset (as --print-config writes an unset value). */
/** statsd's port, which gunicorn's statsd_host takes when none is given. */
const STATSD_PORT = 8125;

/** gunicorn's statsd_host: HOST:PORT, or HOST alone for port 8125; read as HOST:PORT. */
export const statsdHost: ValueType<string> = {
  cli: "string",
  expected: "HOST[:PORT]",
  parse(raw) {
    if (typeof raw !== "string") fail("HOST[:PORT]", raw);
    const s = raw as string;
    if (s === "") return s;
    // gunicorn also takes unix://PATH for statsd; appserve sends UDP only.
    if (s.startsWith("unix:")) {
      throw new ValueError("a unix socket is not supported here, only HOST[:PORT] (UDP)");
    }
    const m = /^(\[[^\]]+\]|[^:\s[\]]+)(?::(\d{1,5}))?$/.exec(s);
    if (!m || Number(m[2] ?? 0) > 65535) throw new ValueError(`expected HOST[:PORT], got "${s}"`);
    return m[2] === undefined ? `${s}:${STATSD_PORT}` : s;
  },
};
