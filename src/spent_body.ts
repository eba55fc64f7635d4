// A Response answered twice (an app caching one by mistake): its body went with the first answer.
// Both socket modes answer the next one as Deno.serve and Bun.serve do, with a 500.

/**
 * The error a Response whose body was already used is answered with (a 500, as Deno.serve and
 * Bun.serve): the app's mistake, said in one line, as its stack would show only appserve's frames.
 */
export function spentBodyError(): TypeError {
  const error = new TypeError(
    "app handler returned a Response whose body was already used " +
      "(a Response can be sent once: make one per request)",
  );
  error.stack = `${error.name}: ${error.message}`;
  return error;
}
