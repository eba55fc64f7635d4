// Resolves the configuration in one place: defaults < TOML file <
// APPSERVE_CMD_ARGS < command line (gunicorn's order), validating every value
// and remembering where it came from. The frozen result is what workers get.

import { existsSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { ConfigError, UsageError } from "../errors.ts";
import { parseBind } from "../net/bind.ts";
import { shellSplit, ShellSplitError } from "./_shell_split.ts";
import { type Config, SETTINGS, type SettingSpec } from "./settings.ts";
import { type ACTION_FLAGS, parseCommandLine, type RawLayer, readTomlFile } from "./sources.ts";
import { cannotRead, EnvValueError, ValueError } from "./validators.ts";

/** The outcome of resolution: the settings, their origins and the CLI actions asked for. */
export interface Resolved {
  readonly config: Config;
  /** Where each setting's value came from: "default", "--workers", "appserve.toml:3:11", ... */
  readonly origins: Readonly<Record<string, string>>;
  readonly actions: ReadonlySet<keyof typeof ACTION_FLAGS>;
  /** An APP_MODULE given in APPSERVE_CMD_ARGS, which is not read there: said when none is given. */
  readonly unreadApp?: string;
}

export interface ResolveOptions {
  env: Record<string, string | undefined>;
  cwd: string;
}

const DEFAULT_CONFIG_FILE = "appserve.toml";

function envLayer(env: Record<string, string | undefined>): {
  layer: RawLayer;
  positionals: string[];
} {
  const text = env.APPSERVE_CMD_ARGS;
  if (!text) return { layer: new Map(), positionals: [] };
  let words: string[];
  try {
    words = shellSplit(text);
  } catch (error) {
    if (error instanceof ShellSplitError) {
      throw new ConfigError(`APPSERVE_CMD_ARGS: Cannot parse: ${error.message}`);
    }
    throw error;
  }
  // Positional arguments are ignored there, as in gunicorn's GUNICORN_CMD_ARGS.
  const { layer, positionals } = parseCommandLine(words, "APPSERVE_CMD_ARGS");
  return { layer, positionals };
}

function configFileLayer(layers: RawLayer[], cwd: string): { layer: RawLayer; dir: string } {
  const given = layers.map((l) => l.get("config")).find((v) => v !== undefined);
  if (given) {
    const text = String(given.value);
    // gunicorn's own forms: its Python config file, or a module on sys.path.
    if (text.startsWith("python:") || /\.py$/i.test(text)) {
      throw new ConfigError(
        `${text}: Cannot read config file: appserve reads TOML config files, not gunicorn's ` +
          "Python ones; give its settings as options, and `--print-config > appserve.toml` " +
          "writes them as TOML",
      );
    }
    const path = text.replace(/^file:/, "");
    return { layer: readTomlFile(resolve(cwd, path), path), dir: dirname(resolve(cwd, path)) };
  }
  const fallback = resolve(cwd, DEFAULT_CONFIG_FILE);
  if (existsSync(fallback)) return { layer: readTomlFile(fallback, DEFAULT_CONFIG_FILE), dir: cwd };
  return { layer: new Map(), dir: cwd };
}

/**
 * A setting's default and where it came from: "default", or the environment variable it was
 * read from ("PORT environment variable" for bind, "WEB_CONCURRENCY ..." for workers).
 */
function defaultOf(
  spec: SettingSpec,
  env: Record<string, string | undefined>,
): { value: unknown; origin: string } {
  if (typeof spec.default !== "function") return { value: spec.default, origin: "default" };
  const read: string[] = [];
  const seen = new Proxy(env, {
    get(target, key) {
      const value = target[key as string];
      if (typeof key === "string" && value !== undefined && value !== "") read.push(key);
      return value;
    },
  });
  const value = (spec.default as (e: typeof env) => unknown)(seen);
  return { value, origin: read.length ? `${read[0]} environment variable` : "default" };
}

/**
 * Resolves argv, the environment and the config file into a frozen Config.
 * Throws UsageError (exit 2) for command-line mistakes (parseCommandLine: an unknown flag, a
 * value not of the flag's type) and ConfigError (exit 1) listing every invalid value.
 */
export function resolveConfig(argv: string[], options: ResolveOptions): Resolved {
  const cli = parseCommandLine(argv);
  if (cli.positionals.length > 1) {
    throw new UsageError(
      `Expected one APP_MODULE, got ${cli.positionals.length}: ${cli.positionals.join(" ")}`,
    );
  }
  const { layer: fromEnv, positionals: envPositionals } = envLayer(options.env);
  const file = configFileLayer([cli.layer, fromEnv], options.cwd);
  const layers = [cli.layer, fromEnv, file.layer];

  const values: Record<string, unknown> = {};
  const origins: Record<string, string> = {};
  const problems: string[] = [];
  for (const spec of SETTINGS as readonly SettingSpec[]) {
    const raw = layers.map((l) => l.get(spec.name)).find((v) => v !== undefined);
    if (!raw) {
      origins[spec.name] = "default";
      try {
        const fromDefault = defaultOf(spec, options.env);
        values[spec.name] = fromDefault.value;
        origins[spec.name] = fromDefault.origin;
      } catch (error) {
        // A default read from the environment (PORT, WEB_CONCURRENCY) can be invalid too.
        if (!(error instanceof EnvValueError)) throw error;
        problems.push(cannotRead(`${error.variable} environment variable`, spec.name, error));
      }
      continue;
    }
    try {
      let value = spec.type.parse(raw.value);
      // "-" names stdout/stderr, not a file.
      if (
        spec.path && raw === file.layer.get(spec.name) && typeof value === "string" && value &&
        value !== "-"
      ) {
        value = isAbsolute(value) ? value : resolve(file.dir, value);
      } else if (spec.path && raw === file.layer.get(spec.name) && spec.type.withBase) {
        value = spec.type.withBase(value, file.dir);
      }
      values[spec.name] = value;
      origins[spec.name] = raw.origin;
      if (spec.pending) {
        problems.push(`${raw.origin}: "${spec.name}" is not supported yet (${spec.pending})`);
      }
    } catch (error) {
      if (!(error instanceof ValueError)) throw error;
      problems.push(cannotRead(raw.origin, spec.name, error));
    }
  }
  if (cli.positionals.length === 1) {
    values.app = cli.positionals[0];
    origins.app = "APP_MODULE";
  }
  checkCombinations(values, origins, problems);
  if (problems.length) throw new ConfigError(problems.join("\n"));
  return Object.freeze({
    config: Object.freeze(values) as Config,
    origins: Object.freeze(origins),
    actions: cli.actions,
    ...(envPositionals.length > 0 && { unreadApp: envPositionals.join(" ") }),
  });
}

// Rules that involve more than one setting.
function checkCombinations(
  values: Record<string, unknown>,
  origins: Record<string, string>,
  problems: string[],
): void {
  // gunicorn: --threads above 1 with the default or the sync worker class means gthread.
  if (
    Number(values.threads) > 1 &&
    (origins.worker_class === "default" || values.worker_class === "sync")
  ) {
    values.worker_class = "gthread";
    if (origins.worker_class === "default") origins.worker_class = origins.threads;
  }
  // The native servers of --reuse-port parse HTTP themselves: no room for a PROXY header.
  if (values.reuse_port === true && values.proxy_protocol !== "off") {
    problems.push(`${origins.proxy_protocol}: proxy_protocol cannot be used with reuse_port`);
  }
  // gthread threads take connections the worker process accepted on the shared socket;
  // reuse_port's native servers accept for themselves, in a thread nobody could answer for.
  if (values.reuse_port === true && values.worker_class === "gthread") {
    problems.push(`${origins.reuse_port}: reuse_port cannot be used with the gthread worker class`);
  }
  // Each worker binds a socket of its own: port 0 would give every worker another port.
  if (values.reuse_port === true) {
    for (const bind of values.bind as string[]) {
      const address = parseBind(bind);
      if (address.kind === "tcp" && address.port === 0) {
        problems.push(
          `${origins.bind}: ${bind}: reuse_port needs a fixed port (each worker binds its own ` +
            "socket, so port 0 would give each worker a different one)",
        );
      }
    }
  }
  // Bun.serve cannot tell "no certificate" (fine) from "an unverifiable one" (refused).
  if (values.reuse_port === true && values.cert_reqs === 1) {
    problems.push(`${origins.cert_reqs}: cert_reqs 1 (optional) cannot be used with reuse_port`);
  }
}
