// wrk for the benchmarks: the shared runner (tests/_procs.ts) with a failed or unreadable run
// turned into a BenchError, and wrk tracked so that Ctrl-C kills it too.

import { BenchError, track } from "./procs.ts";
import { parseWrk, startWrk, type WrkResult } from "../../tests/_procs.ts";

export {
  errorCount,
  wrkArgs,
  wrkAvailable,
  type WrkOptions,
  type WrkResult,
} from "../../tests/_procs.ts";

/** Runs wrk to the end and reads its report; killed if it outlives its duration by 15 s. */
export async function runWrk(args: string[], seconds: number): Promise<WrkResult> {
  const { child, done } = startWrk(args, seconds);
  track(child);
  const { code, signal, report, error } = await done;
  if (error) throw new BenchError(`cannot run wrk: ${error.message}`);
  const last = report.trim().split("\n").at(-1) ?? "";
  if (code !== 0) {
    const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    throw new BenchError(`wrk ${why}: ${last}`);
  }
  const result = parseWrk(report);
  if (!result) throw new BenchError(`cannot read wrk's report: ${last}`);
  return result;
}

/** The command line as a shell would take it. */
export function shellLine(command: string, args: string[]): string {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);
  return [command, ...args].map(quote).join(" ");
}
