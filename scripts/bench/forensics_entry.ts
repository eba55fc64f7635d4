// What naming a request in the in-flight table costs in-process under --reuse-port (issue 19):
// InflightWatch.wrapAlone around a handler that answers at once, this tree's against a base
// checkout's, in one process, interleaved reps, CPU time from process.cpuUsage(), medians.
// "same": every request like the last (wrk's hello world); "varied": 64 paths of ~36
// characters from 61 client ports, rotating. With `default`, the requests carry a browser's
// User-Agent and a Referer, and a tree that has them keeps the default access format's fields
// (src/ipc/inflight_fields.ts). Runs under either runtime:
//
//   node_modules/.bin/bun scripts/bench/forensics_entry.ts BASE_CHECKOUT [same|varied] [default]
//   node_modules/.bin/deno run -A scripts/bench/forensics_entry.ts BASE_CHECKOUT [same|varied]
//
// One kind per run: a JIT that saw one kind first skews the other.

import { existsSync } from "node:fs";
import { resolve } from "node:path";
import process from "node:process";
import type { FetchHandler } from "../../src/fetch_handler.ts";

const [base, kind = "same", format = "none"] = process.argv.slice(2);
if (
  !base || (kind !== "same" && kind !== "varied") || (format !== "none" && format !== "default")
) {
  process.stderr.write("usage: forensics_entry.ts BASE_CHECKOUT [same|varied] [default]\n");
  process.exit(2);
}
const REPS = 30;
const CALLS = 200_000;

async function wrapped(root: string): Promise<FetchHandler> {
  const table = await import(resolve(root, "src/ipc/inflight.ts"));
  const watch = await import(resolve(root, "src/worker/inflight_watch.ts"));
  const response = new Response("Hello World!");
  const memory = new Uint8Array(table.INFLIGHT_BYTES);
  const fieldsFile = resolve(root, "src/ipc/inflight_fields.ts");
  const options = format === "default" && existsSync(fieldsFile)
    ? {
      fields: (await import(fieldsFile)).inflightFields(
        (await import(resolve(root, "src/log/access_format.ts"))).DEFAULT_ACCESS_LOG_FORMAT,
      ),
    }
    : {};
  return new watch.InflightWatch(new table.InflightTable(memory), options)
    .wrapAlone(() => response);
}

const requests = Array.from(
  { length: 64 },
  (_, i) =>
    new Request(`http://127.0.0.1:8080/api/items/${i}?page=${i}`, {
      headers: format === "default"
        ? {
          "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) " +
            "Chrome/120.0.0.0 Safari/537.36",
          referer: "https://example.com/some/page?x=1",
        }
        : {},
    }),
);
requests.forEach((r) => void r.url);
const infos = Array.from({ length: 61 }, (_, i) => ({
  remoteAddr: { transport: "tcp" as const, hostname: "127.0.0.1", port: 40000 + i },
  requestIP: () => null,
}));
const handlers = { base: await wrapped(base), new: await wrapped(".") };
const times: Record<string, number[]> = { base: [], new: [] };
for (let rep = 0; rep < REPS; rep++) {
  for (const name of rep % 2 ? ["base", "new"] as const : ["new", "base"] as const) {
    const h = handlers[name];
    const t = process.cpuUsage();
    if (kind === "same") { for (let i = 0; i < CALLS; i++) h(requests[0], infos[0]); }
    else for (let i = 0; i < CALLS; i++) h(requests[i & 63], infos[i % 61]);
    const d = process.cpuUsage(t);
    times[name].push((d.user + d.system) * 1000 / CALLS);
  }
}
for (const [name, t] of Object.entries(times)) {
  const s = t.slice(5).sort((a, b) => a - b);
  process.stdout.write(`${kind} ${name}: median ${s[s.length >> 1].toFixed(1)} ns a request\n`);
}
process.exit(0);
