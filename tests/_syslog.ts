// Real syslog receivers for the tests: a UDP socket, a unix datagram socket, and
// TCP and unix stream servers, each keeping the messages it got as text; and
// rsyslogd (Debian's rsyslog) started with a configuration of the test's own.

import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { join } from "node:path";
import { Proc } from "./_procs.ts";

/** A receiver and the messages it got: one per datagram, or one per line of a stream. */
export interface Receiver {
  /** What to pass to --log-syslog-to. */
  readonly addr: string;
  readonly messages: string[];
  close(): void;
}

const decoder = new TextDecoder();

/** A UDP receiver on 127.0.0.1 (`port` 0: any free one). */
export function udpReceiver(port = 0): Receiver {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port });
  return datagramReceiver(conn, `udp://127.0.0.1:${(conn.addr as Deno.NetAddr).port}`);
}

/** A unix datagram receiver at `path`; `addr` is `unix://path` followed by `suffix`. */
export function unixDatagramReceiver(path: string, suffix = "#dgram"): Receiver {
  const conn = Deno.listenDatagram({ transport: "unixpacket", path });
  return datagramReceiver(conn, `unix://${path}${suffix}`);
}

function datagramReceiver(conn: Deno.DatagramConn, addr: string): Receiver {
  const messages: string[] = [];
  (async () => {
    try {
      for await (const [data] of conn) messages.push(decoder.decode(data));
    } catch { /* closed */ }
  })();
  return { addr, messages, close: () => conn.close() };
}

/** A stream receiver (TCP on 127.0.0.1, or a unix socket path) splitting what it reads into lines. */
export async function streamReceiver(
  where: { port: number } | { path: string },
): Promise<Receiver & { dropConnections(): void }> {
  const messages: string[] = [];
  const sockets = new Set<Socket>();
  const server: NetServer = createServer((socket) => {
    sockets.add(socket);
    let rest = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      messages.push(...lines);
    });
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => {
    if ("path" in where) server.listen(where.path, resolve);
    else server.listen(where.port, "127.0.0.1", resolve);
  });
  const address = server.address();
  const addr = "path" in where
    ? `unix://${where.path}#stream`
    : `tcp://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
  const dropConnections = () => sockets.forEach((s) => s.destroy());
  return {
    addr,
    messages,
    dropConnections,
    close: () => {
      server.close();
      dropConnections();
    },
  };
}

/**
 * rsyslogd in the foreground with inputs on UDP `udpPort`, TCP `tcpPort` and the unix socket
 * `dir`/log.sock, writing each message as `facility|severity|programname|msg` to `dir`/out.log.
 */
export function startRsyslog(dir: string, udpPort: number, tcpPort: number): Proc {
  const conf = join(dir, "rsyslog.conf");
  writeFileSync(
    conf,
    `global(workDirectory="${dir}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="${udpPort}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="${tcpPort}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="${join(dir, "log.sock")}")
template(name="fields" type="string"
  string="%syslogfacility-text%|%syslogseverity-text%|%programname%|%msg%\\n")
*.* action(type="omfile" file="${join(dir, "out.log")}" template="fields")
`,
  );
  const child = spawn("rsyslogd", ["-n", "-f", conf, "-i", join(dir, "rsyslogd.pid")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Proc(child, { name: "rsyslogd" });
}
