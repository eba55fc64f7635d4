// --metrics-bind: the master's own small HTTP server for Prometheus (/metrics) and the probes of
// Kubernetes or a load balancer (/readyz, /healthz, /livez). Served by the master, never a worker:
// a stuck worker cannot hide its own metrics, and the answers stay up while workers come and go.

import { createServer, type Server } from "node:http";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { ConfigError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { parseBind } from "../net/bind.ts";
import { removeSocketFile } from "../net/listeners.ts";
import {
  bindMetricsSocket,
  bindMetricsUnixSocket,
  createAcceptsFlag,
} from "../net/metrics_socket.ts";
import { F_DUPFD_CLOEXEC } from "../net/socket_constants.ts";
import type { Libc } from "../runtime/types.ts";
import type { HealthAnswer } from "./health.ts";
import { DRAIN_MS, OpenScrapes } from "./open_scrapes.ts";
import { processEnded } from "./process_ended.ts";

/** How often a master stopping after USR2 looks whether its child accepts on the listener yet. */
const HAND_OVER_POLL_MS = 50;

/** What the server asks the arbiter at each request. */
export interface MetricsSource {
  /** The text exposition of every metric (prometheus_text.ts). */
  metrics(): string;
  /** /readyz and /healthz: whether the master accepts and a worker serves (health.ts). */
  readiness(): HealthAnswer;
  /** /livez: whether the master's loop turns. */
  liveness(): HealthAnswer;
}

/** A listening metrics server: what metricsAddress() reads, and how to close it. */
export interface MetricsListener {
  server: Server | NetServer;
  /** Its listening socket, which USR2 hands to the new master. */
  fd?: number;
  /**
   * Stops accepting, and resolves once the scrapes already accepted are answered, or cut after
   * DRAIN_MS: to how many were cut. A unix socket's file is removed, unless `keepFile` (another
   * master serves on it, or this one did not make it).
   */
  close(keepFile: boolean): Promise<number>;
}

/**
 * Listens on `bind` (through libc, or on `inherited`, the listener a USR2 parent handed over); a
 * ConfigError in one line when it cannot.
 */
export async function serveMetrics(
  bind: string,
  source: MetricsSource,
  { libc, inherited }: { libc?: Libc; inherited?: number } = {},
): Promise<MetricsListener> {
  const scrapes = new OpenScrapes();
  const server = createServer((request, response) => {
    scrapes.request(request, response);
    const path = (request.url ?? "/").split("?")[0];
    if (request.method !== "GET" && request.method !== "HEAD") {
      response.writeHead(405, { allow: "GET, HEAD" }).end();
    } else if (path === "/metrics") {
      response.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
      response.end(source.metrics());
    } else if (path === "/readyz" || path === "/healthz" || path === "/livez") {
      const { ok, lines } = path === "/livez" ? source.liveness() : source.readiness();
      // A probe must see the answer of now, not a cache's.
      response.writeHead(ok ? 200 : 503, {
        "content-type": "text/plain; charset=utf-8",
        "cache-control": "no-store",
      });
      response.end(lines.join("\n") + "\n");
    } else {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  server.on("connection", (socket) => scrapes.track(socket));
  const address = parseBind(bind);
  if (address.kind !== "fd" && libc) {
    const fd = inherited ??
      (address.kind === "tcp"
        ? await bindMetricsSocket(libc, bind, address.host, address.port)
        : bindMetricsUnixSocket(libc, bind, address.path));
    // node:http cannot listen on an fd under Bun: node:net accepts, node:http answers. The
    // server gets a duplicate of its own; `fd` stays open for USR2 until close().
    const listener = createNetServer((socket) => server.emit("connection", socket));
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.listen({ fd: libc.fcntl(fd, F_DUPFD_CLOEXEC, 0) }, resolve);
    }).catch((error: Error) => {
      libc.close(fd);
      if (address.kind === "unix" && inherited === undefined) removeSocketFile(address.path);
      throw new ConfigError(`--metrics-bind: Cannot listen on "${bind}": ${error.message}`);
    });
    return {
      server: listener,
      fd,
      close: (keepFile: boolean) => {
        listener.close();
        libc.close(fd);
        if (address.kind === "unix" && !keepFile) removeSocketFile(address.path);
        return scrapes.drain();
      },
    };
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if (address.kind === "unix") server.listen(address.path, resolve);
    else if (address.kind === "tcp") server.listen(address.port, address.host, resolve);
    else reject(new Error("an fd is no metrics address"));
  }).catch((error: NodeJS.ErrnoException) => {
    const why = error.code === "EADDRINUSE"
      ? "address already in use"
      : error.code === "EACCES"
      ? "permission denied"
      : error.message;
    throw new ConfigError(`--metrics-bind: Cannot listen on "${bind}": ${why}`);
  });
  return {
    server,
    close: () => {
      server.close();
      return scrapes.drain();
    },
  };
}

/** The address the server listens on, for the log (the port chosen for :0). */
export function metricsAddress(server: Server | NetServer, bind: string): string {
  if (bind.startsWith("unix:")) return bind;
  const address = server.address();
  if (address && typeof address === "object") {
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }
  return bind;
}

/**
 * serveMetrics() with the address logged; `retry` (a master started by USR2 that was handed no
 * listener: its parent is of an older version, and still holds the address) turns
 * a taken address into a WARNING and tries again every second. Bound before anything else (a
 * taken address is then the only line), but said only once announce() is called: the master's
 * first line is "Starting", as gunicorn's.
 */
export async function startMetrics(
  bind: string,
  source: MetricsSource,
  { log, retry, libc, inherited, parent, accepts }: {
    log: Logger;
    retry: boolean;
    libc?: Libc;
    /** The listener a USR2 parent handed over: served without a bind. */
    inherited?: number;
    /**
     * The USR2 parent's pid, when this master was started by one: `inherited` is accepted on only
     * from open() (the parent, which accepts on it too, answers until this master's workers serve:
     * a probe would otherwise hear "starting" half the time), and its unix socket file is the
     * parent's while that runs.
     */
    parent?: number;
    /** The flag a USR2 parent handed over with `inherited`: set once this master accepts on it. */
    accepts?: Uint8Array;
  },
): Promise<{
  /**
   * Stops serving. `child`: the pid of the USR2 child this master started, which serves on:
   * this master answers on until the child accepts (its flag, acceptsFd()), ends, or close()
   * comes without it, at the exit. A unix socket's file stays while the other master sharing it
   * runs (that child, or the USR2 parent that handed it over, until promotion): whoever ends
   * last removes it, at its exit (when close() is called without `child`).
   */
  close(child?: number): Promise<void>;
  announce(): void;
  /** Accepts on the listener held so far; `promoted`: its socket file is this master's now. */
  open(promoted?: boolean): Promise<void>;
  fd(): number | undefined;
  /** The flag the next USR2 child is handed with fd() (cleared now), or undefined: none. */
  acceptsFd(): number | undefined;
  /** Whether the child handed acceptsFd() accepts on the listener now (its workers serve). */
  childAccepts(): boolean;
}> {
  let listener: MetricsListener | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  const bound = parseBind(bind);
  const unixPath = bound.kind === "unix" ? bound.path : undefined;
  // The other master serving on the unix socket's file, whose it is while it runs: the USR2 parent
  // that handed it over (until this one binds it or is promoted), or the USR2 child this one
  // hands it to as it stops. Whoever ends last removes the file.
  let sharer = inherited !== undefined ? parent : undefined;
  const sharerRuns = () => sharer !== undefined && !processEnded(sharer);
  let keptFile = false;
  // The flag of the USR2 child this master hands fd() to; polled while a hand-over waits for it.
  let childFlag: { fd: number; memory: Uint8Array } | null | undefined;
  let handingOver: ReturnType<typeof setInterval> | undefined;
  let heldFd = parent !== undefined && libc ? inherited : undefined;
  let closing: Promise<void> | undefined;
  let held: (() => void)[] | undefined = [];
  const say = (line: () => void) => held ? held.push(line) : line();
  const finish = () =>
    closing ??= (async () => {
      closed = true;
      clearInterval(handingOver);
      clearTimeout(timer);
      if (heldFd !== undefined) {
        libc!.close(heldFd);
        keptFile = sharerRuns();
        // Never served here, but kept for this master by a parent that has ended since.
        if (unixPath && !keptFile) removeSocketFile(unixPath);
      }
      if (childFlag) libc!.close(childFlag.fd);
      if (listener) await closeListener(listener);
    })();
  // At the exit: a file kept for a master that has ended since is left to this one.
  const removeLeftFile = () => {
    if (unixPath && keptFile && !sharerRuns()) removeSocketFile(unixPath);
  };
  const attempt = async (first: boolean): Promise<void> => {
    try {
      listener = await serveMetrics(bind, source, {
        libc,
        inherited: first ? inherited : undefined,
      });
      if (!first) sharer = undefined;
      if (closed) return void await closeListener(listener);
      // The parent, stopping, answers until now (it reads the flag every HAND_OVER_POLL_MS).
      if (first && inherited !== undefined && accepts) accepts[0] = 1;
      const address = metricsAddress(listener.server, bind);
      say(() => log.info(`Serving metrics at: ${address}/metrics`));
    } catch (error) {
      if (!retry) throw error;
      const message = (error as Error).message;
      if (first) say(() => log.warning(`${message}; trying again every second`));
      timer = setTimeout(() => attempt(false), 1000);
    }
  };
  // A scrape cut is a scraper's missing sample or a probe's timeout: said, as a cut request is.
  const closeListener = async (open: MetricsListener) => {
    keptFile = sharerRuns();
    const cut = await open.close(keptFile);
    if (cut === 0) return;
    const scrapes = cut === 1 ? "1 metrics scrape was" : `${cut} metrics scrapes were`;
    log.warning(
      `Cut off at the stop: ${scrapes} not answered within ${DRAIN_MS / 1000} s ` +
        `(the metrics server's connections are closed)`,
    );
  };
  if (heldFd === undefined) await attempt(true);
  return {
    open: async (promoted = false) => {
      if (promoted) sharer = undefined;
      if (heldFd === undefined || closed) return;
      heldFd = undefined;
      await attempt(true);
    },
    announce: () => {
      const lines = held ?? [];
      held = undefined;
      lines.forEach((line) => line());
    },
    // Awaited before the process exits: a scrape accepted is answered, not reset. Once: a
    // master stopping after USR2 closes it early, once its child answers.
    close: (child?: number) => {
      if (child === undefined) return finish().then(removeLeftFile);
      sharer = child;
      if (!childFlag || childFlag.memory[0] === 1) return finish();
      // The child's workers have not served yet (nor has it been promoted): a probe answered
      // "stopping" beats one that waits on a listener nobody accepts on. A child that ends
      // first leaves the listener, and its file, to this master again.
      handingOver ??= setInterval(() => {
        if (childFlag!.memory[0] === 1) void finish();
        else if (!sharerRuns()) clearInterval(handingOver);
      }, HAND_OVER_POLL_MS);
      return Promise.resolve();
    },
    fd: () => closed ? undefined : listener?.fd,
    childAccepts: () => childFlag?.memory[0] === 1,
    acceptsFd: () => {
      if (!libc || closed || listener?.fd === undefined) return undefined;
      childFlag ??= createAcceptsFlag(libc) ?? null;
      if (!childFlag) return undefined;
      childFlag.memory[0] = 0;
      return childFlag.fd;
    },
  };
}
