// The single codec of the master↔worker pipe: newline-delimited JSON.

import type { Readable, Writable } from "node:stream";
import type { WorkerMessage } from "./messages.ts";

/** Sends one message (worker side). */
export function send(stream: Writable, message: WorkerMessage): void {
  stream.write(`${JSON.stringify(message)}\n`);
}

/** Calls `onMessage` for every message arriving on `stream` (master side). */
export function receive(stream: Readable, onMessage: (message: WorkerMessage) => void): void {
  let pending = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf("\n")) !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      try {
        onMessage(JSON.parse(line) as WorkerMessage);
      } catch {
        // A malformed line can only come from a broken worker; its exit is handled by reaping.
      }
    }
  });
  stream.on("error", () => {});
}
