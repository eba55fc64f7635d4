// A reader of Prometheus's text exposition format (0.0.4) that enforces the format's rules, so a
// test of --metrics-bind fails on output a Prometheus server would refuse: names, labels and
// their escaping, values, one TYPE per family before its samples, histogram buckets cumulative
// with +Inf equal to _count, no two samples with one name and the same labels.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const TYPES = new Set(["counter", "gauge", "histogram", "summary", "untyped"]);

function parseValue(text: string, line: string): number {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  if (text === "NaN") return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad value: ${line}`);
  return Number(text);
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.length) {
    const m = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
    if (!m) throw new Error(`bad labels: ${line}`);
    if (m[1] in labels) throw new Error(`duplicate label ${m[1]}: ${line}`);
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    rest = rest.slice(m[0].length);
  }
  return labels;
}

/** The samples of `text`; throws on the first line that breaks the format's rules. */
export function parsePrometheus(text: string): Sample[] {
  if (!text.endsWith("\n")) throw new Error("the exposition must end with a newline");
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const series = new Set<string>();
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // A plain comment.
      if (!NAME.test(m[2])) throw new Error(`bad name: ${line}`);
      if (m[1] === "TYPE") {
        if (!TYPES.has(m[3])) throw new Error(`bad type: ${line}`);
        if (types.has(m[2])) throw new Error(`second TYPE: ${line}`);
        types.set(m[2], m[3]);
      }
      continue;
    }
    const m = /^([^{\s]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || !NAME.test(m[1])) throw new Error(`bad sample: ${line}`);
    const family = types.has(m[1]) ? m[1] : m[1].replace(/_(bucket|sum|count)$/, "");
    const type = types.get(family);
    if (!type) throw new Error(`sample before its TYPE: ${line}`);
    if (type === "histogram" && family === m[1]) throw new Error(`bare histogram sample: ${line}`);
    const labels = parseLabels(m[2] ?? "", line);
    const key = JSON.stringify([m[1], ...Object.entries(labels).sort()]);
    if (series.has(key)) throw new Error(`duplicate sample: ${line}`);
    series.add(key);
    samples.push({ name: m[1], labels, value: parseValue(m[3], line) });
  }
  for (const [family, type] of types) {
    if (type !== "histogram") continue;
    const buckets = samples.filter((s) => s.name === `${family}_bucket`);
    for (let i = 1; i < buckets.length; i++) {
      if (buckets[i].value < buckets[i - 1].value) throw new Error(`${family}: buckets go down`);
    }
    const inf = buckets.find((b) => b.labels.le === "+Inf");
    const count = samples.find((s) => s.name === `${family}_count`);
    if (!inf || !count || inf.value !== count.value) {
      throw new Error(`${family}: +Inf bucket and _count differ`);
    }
  }
  return samples;
}

/** The value of the one sample named `name` with these labels (undefined when absent). */
export function sampleValue(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.find((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  )?.value;
}
