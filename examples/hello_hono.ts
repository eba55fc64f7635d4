// The example app `make run` serves: a Hono app whose answers show which
// worker process handled the request.
import { Hono } from "hono";

const app = new Hono();

app.get("/", (c) => c.text(`Hello from appserve worker ${process.pid}\n`));
app.get(
  "/json",
  (c) => c.json({ pid: process.pid, runtime: "Bun" in globalThis ? "bun" : "deno" }),
);

export default app;
