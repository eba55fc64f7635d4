// An upload under way: a POST whose body the app (tests/fixtures/apps/failing_app.ts, /upload or
// /upload-answered)
// has begun to read, on a raw socket the test then closes or resets.

import type { Socket } from "node:net";
import { eventually, get } from "./_helpers.ts";
import { rawConnect } from "./_raw.ts";

/** Sends the head and 1000 of 100000 body bytes; resolves once the app is reading them. */
export async function uploadUnderWay(url: URL, path = "/upload"): Promise<Socket> {
  const socket = await rawConnect(Number(url.port));
  socket.on("error", () => {});
  socket.write(
    `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n` + "a".repeat(1000),
  );
  await eventually(
    async () => (await get(`${url.origin}/uploading`)).body === "1\n",
    "the app reading the upload",
  );
  return socket;
}
