// The request Deno.serve made, with its body read through a tap (runtime/deno.ts waits, at a
// stop, for the bodies under way): its signal read only when something reads `signal`
// (request_signal.ts says why).

export { SignalLazyRequest as TappedRequest } from "../request_signal.ts";
