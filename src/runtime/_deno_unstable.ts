// Deno's unstable APIs are absent, not failing, without their flag: `Deno.openKv()` is then
// "Deno.openKv is not a function". `deno serve` hints at the flag; a worker says the same, with
// both ways to turn it on under appserve.

/** The Deno names each unstable feature adds (Deno 2.9). `net` is on in every worker. */
const UNSTABLE: Record<string, string[]> = {
  kv: ["openKv", "Kv", "AtomicOperation", "KvU64", "KvListIterator"],
  cron: ["cron"],
  webgpu: ["UnsafeWindowSurface"],
  bundle: ["bundle"],
};

const FEATURE = new Map(
  Object.entries(UNSTABLE).flatMap(([feature, names]) => names.map((n) => [n, feature])),
);

// Frames of appserve's own worker bundle, not where the app went wrong.
const OWN = /\/(process_entry|thread_entry|appserve_shim)\.js:/;

/** The first place in the app's code (`path:line:col`) the stack names, if any. */
function appPlace(stack: string): string | undefined {
  for (const m of stack.matchAll(/(file:\/\/\/[^\s)]+?):(\d+):(\d+)/g)) {
    if (OWN.test(m[0])) continue;
    return `${decodeURIComponent(new URL(m[1]).pathname)}:${m[2]}:${m[3]}`;
  }
  return undefined;
}

/** One line naming the unstable API an error stems from and how to enable it; else undefined. */
export function explainUnstable(error: unknown): string | undefined {
  if (!(error instanceof TypeError)) return undefined;
  const m = /\bDeno\.(\w+) is not a (?:function|constructor)\b/.exec(error.message);
  const feature = m && FEATURE.get(m[1]);
  if (!feature) return undefined;
  const place = appPlace(error.stack ?? "");
  return `${place ? `${place}: ` : ""}TypeError: ${error.message.split("\n")[0]}: ` +
    `Deno.${m[1]} is an unstable API; enable it with "unstable": ["${feature}"] in deno.json, ` +
    `or --deno-flags "-A --unstable-${feature}"`;
}
