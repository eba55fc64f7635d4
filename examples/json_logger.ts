// A JSON-lines logger: `appserve --logger-class examples/json_logger.ts app.ts`.
import process from "node:process";
import { type AccessEntry, Logger, type LogLevel } from "appserve";

export default class JsonLogger extends Logger {
  override formatError(level: LogLevel, message: string, time: Date): string {
    return JSON.stringify({ time: time.toISOString(), pid: process.pid, level, message });
  }

  override formatAccess({ request, response, details, durationMs, end }: AccessEntry): string {
    const { method } = request;
    const { status } = response;
    const { target, remote } = details;
    return JSON.stringify({
      time: end.toISOString(),
      method,
      target,
      status,
      peer: remote.hostname,
      ms: durationMs,
    });
  }
}
