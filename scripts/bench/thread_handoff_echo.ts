// The thread of scripts/bench/thread_handoff.ts: answers every message at once
// with the same data, so the bench measures the messaging alone.

// deno-lint-ignore no-explicit-any
const scope = globalThis as any;
scope.onmessage = (event: MessageEvent) => scope.postMessage(event.data);
