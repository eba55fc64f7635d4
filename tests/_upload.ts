// An upload under way: a POST whose body the app (tests/fixtures/apps/failing_app.ts, /upload or
// /upload-answered)
// has begun to read, on a raw socket the test then closes or resets.

import type { Socket } from "node:net";
import { eventually, get } from "./_helpers.ts";
import { rawConnect } from "./_raw.ts";

/**
 * Sends the head and 1000 of 100000 body bytes (`chunked`: a first chunk of 1000 bytes, no
 * length declared); resolves once the app is reading them.
 */
export async function uploadUnderWay(
  url: URL,
  path = "/upload",
  chunked = false,
): Promise<Socket> {
  const socket = await rawConnect(Number(url.port));
  socket.on("error", () => {});
  const head = `POST ${path} HTTP/1.1\r\nHost: x\r\n` +
    (chunked ? "Transfer-Encoding: chunked" : "Content-Length: 100000") + "\r\n\r\n";
  socket.write(head + (chunked ? "3e8\r\n" + "a".repeat(1000) + "\r\n" : "a".repeat(1000)));
  await eventually(
    async () => (await get(`${url.origin}/uploading`)).body === "1\n",
    "the app reading the upload",
  );
  return socket;
}
