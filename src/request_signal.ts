// Deno's Request reads its own signal through an accessor keyed by a symbol of its own (as do its
// `signal` getter, `clone()` and `new Request(request)`, and so `fetch(request)`). A subclass whose
// `signal` is not the native one routes that accessor to its getter, so those read its signal too.
// Bun's read `signal` itself: there, no such symbol, nothing done.

/** Routes Deno's internal signal accessor of `subclass`'s instances to their `signal` getter. */
export function routeOwnSignal(subclass: { prototype: Request }): void {
  const native = globalThis.Request.prototype;
  const internal = Object.getOwnPropertySymbols(native).find((key) =>
    key.description === "signal" &&
    typeof Object.getOwnPropertyDescriptor(native, key)?.get === "function"
  );
  if (internal === undefined) return;
  Object.defineProperty(subclass.prototype, internal, {
    get(this: Request): AbortSignal {
      return this.signal;
    },
    configurable: true,
  });
}
