// The ceiling of any HTTP layer on node:net: a server that answers every request head
// with one pre-encoded hello-world response (enough for wrk's body-less GETs).

import { createServer, type Server } from "node:net";

function encodeResponse(close: boolean): Uint8Array {
  return new TextEncoder().encode(
    "HTTP/1.1 200 OK\r\ncontent-type: text/plain;charset=UTF-8\r\n" +
      `date: ${new Date().toUTCString()}\r\ncontent-length: 12\r\n` +
      `${close ? "connection: close\r\n" : ""}\r\nHello World!`,
  );
}

/**
 * What any fetch server owes its app per request, past answering it: a Request with its URL and
 * header fields, and the app's Response. The fixed reply plus this is the ceiling of a fetch
 * server on node:net.
 */
export function fetchContract(head: string): void {
  // The cheapest way either runtime has (as src/http/fetch_glue.ts builds it): a GET Request from
  // its URL alone, then its header fields appended.
  let end = head.indexOf("\r\n");
  const line = end < 0 ? head : head.slice(0, end);
  const target = line.slice(line.indexOf(" ") + 1, line.lastIndexOf(" "));
  const request = new Request("http://localhost" + target);
  const headers = request.headers;
  while (end >= 0) {
    const start = end + 2;
    end = head.indexOf("\r\n", start);
    const field = end < 0 ? head.slice(start) : head.slice(start, end);
    const colon = field.indexOf(":");
    headers.append(field.slice(0, colon), field.slice(colon + 1).trim());
  }
  new Response("Hello World!");
}

/**
 * A node:net server (not yet listening) that answers each request head; `onRequest` counts (and
 * gets the head, without its blank line).
 */
export function fixedReplyServer(onRequest: (head: string) => void = () => {}): Server {
  let keep = encodeResponse(false);
  let close = encodeResponse(true);
  // The Date header, as a real server keeps it.
  setInterval(() => {
    keep = encodeResponse(false);
    close = encodeResponse(true);
  }, 1000).unref();
  const latin1 = new TextDecoder("latin1");
  return createServer((socket) => {
    let pending = "";
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: Uint8Array) => {
      if (socket.writableEnded) return;
      pending += latin1.decode(chunk);
      let end;
      while ((end = pending.indexOf("\r\n\r\n")) >= 0) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        onRequest(head);
        if (/\r\nconnection:\s*close/i.test(head)) {
          socket.end(close);
          return;
        }
        socket.write(keep);
      }
    });
  });
}
