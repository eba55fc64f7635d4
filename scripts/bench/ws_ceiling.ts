// The ceiling of WebSockets on the shared socket: node:net plus the `ws` library appserve hands
// connections to (npm ws under Deno, Bun's built-in ws under Bun), configured and guarded as
// appserve does, with no HTTP layer, Request, app or shim: read the head, handleUpgrade, echo.
// What appserve's shared-socket rows cost above this is appserve's; what this costs above
// Deno.serve/Bun.serve is node:net's and ws's.
// Usage: ws_ceiling.ts PORT (prints "ready PID"; a plain GET gets a fixed 200)

import { Buffer } from "node:buffer";
import { createServer, type Socket } from "node:net";
import process from "node:process";
import {
  createWsServer,
  guardRepeatedEnd,
  loadWsLibrary,
  writeAnswersPerChunk,
} from "../../src/http/websocket/ws_library.ts";

const port = Number(process.argv[2]);
const OK = "HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nok\n";
// The ws server exactly as appserve configures it (src/http/websocket/ws_library.ts).
await loadWsLibrary();
const wss = createWsServer({ maxPayload: 16 * 1024 * 1024, chooseProtocol: () => false });

function onHead(socket: Socket, head: string, rest: Buffer): void {
  const lines = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  if (headers.upgrade?.toLowerCase() !== "websocket") {
    socket.end(OK);
    return;
  }
  const [method, url] = lines[0].split(" ");
  // As appserve does: no repeated end() (Deno builds an error with its stack for each one).
  guardRepeatedEnd(socket as unknown as { end(...a: unknown[]): unknown });
  wss.handleUpgrade({ method, url, headers, socket }, socket, rest, (ws) => {
    guardRepeatedEnd((ws as unknown as { _receiver?: { end(): unknown } })._receiver);
    writeAnswersPerChunk(socket);
    ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
}

createServer((socket) => {
  let buf = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    const end = buf.indexOf("\r\n\r\n");
    if (end < 0) return;
    socket.off("data", onData);
    onHead(socket, buf.toString("latin1", 0, end), buf.subarray(end + 4));
  };
  socket.on("data", onData);
  socket.on("error", () => socket.destroy());
}).listen({ port, host: "127.0.0.1", reusePort: true }, () => {
  process.stdout.write(`ready ${process.pid}\n`);
});
