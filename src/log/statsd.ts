// gunicorn's statsd metrics over UDP, through hot-shots: counters
// gunicorn.requests, gunicorn.request.status.<code>, gunicorn.log.<level>, the
// timers (gunicorn's histograms, `|ms`) gunicorn.request.duration and gunicorn.backlog
// (--enable-backlog-metric), the gauge gunicorn.workers, with
// dogstatsd tags when dogstatsd_tags names some. Each line as gunicorn's instrument/statsd.py
// writes it (`name:1|c|@1.0`, `name:2.5|ms`, `name:2|g`, then `|#tags`); hot-shots batches and
// sends them. hot-shots is imported only when statsd is
// configured: with the node: modules it requires it is ~4 MB of every process that loads it.

/** Where the Logger sends its metrics. */
export interface Metrics {
  increment(name: string): void;
  /** A timer (gunicorn's histogram): `ms` as it is, or as durationMs() wrote it. */
  timing(name: string, ms: number | string): void;
  gauge(name: string, value: number): void;
  /** Sends the batch still waiting; resolves once it is sent (the process may exit then). */
  close(): Promise<void>;
  /** Sends the batch still waiting and goes on; resolves once it is sent. */
  flush(): Promise<void>;
}

/**
 * A close or flush whose datagrams never drain (a receiver's buffer full) ends no later than this:
 * the library itself gives up after 11 ticks of its closing interval.
 */
const CLOSE_WAIT_MS = 1000;

/** `send(done)` with done called once, within CLOSE_WAIT_MS, even if the library throws. */
function sent(send: (done: () => void) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, CLOSE_WAIT_MS);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    try {
      send(done);
    } catch {
      done();
    }
  });
}

/**
 * A request's duration in ms as gunicorn writes it: whole microseconds (a timedelta's), as
 * Python writes a float (`12.0`, `0.466`).
 */
export function durationMs(ms: number): string {
  const rounded = Math.round(ms * 1000) / 1000;
  return Number.isInteger(rounded) ? `${rounded}.0` : String(rounded);
}

/** `--statsd-prefix`: gunicorn appends the dot. */
export function statsdPrefix(prefix: string): string {
  return prefix && !prefix.endsWith(".") ? `${prefix}.` : prefix;
}

/**
 * A UDP statsd client for `host:port`. Send failures (an unresolvable host,
 * nobody listening) never reach the app: `onError` hears about the first one.
 */
export async function statsdClient(
  hostPort: string,
  prefix: string,
  tags: string,
  onError: (message: string) => void,
): Promise<Metrics> {
  const { default: StatsD } = await import("npm:hot-shots@17.1.1");
  const colon = hostPort.lastIndexOf(":");
  const host = hostPort.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  const port = Number(hostPort.slice(colon + 1));
  let reported = false;
  const client = new StatsD({
    host,
    port,
    // Datagrams as gunicorn sends them: no tags, container ids or client telemetry of the
    // library's own from DD_* environment variables.
    datadog: false,
    includeDataDogTags: false,
    includeDatadogTelemetry: false,
    cacheDns: true,
    // Metrics of one moment share datagrams (newline-separated, as statsd reads them).
    maxBufferSize: 1400,
    bufferFlushInterval: 100,
    errorHandler: (error) => {
      if (reported) return;
      reported = true;
      onError(`statsd: cannot send to ${hostPort} (${error.message}); metrics are dropped`);
    },
  });
  // The library's own metric methods leave out a sample rate of 1 (gunicorn writes `|@1.0`) and
  // rewrite tags: its send() (hot-shots 17, pinned) takes the line as written and batches it.
  const sender = client as unknown as { send(message: string): void };
  const before = statsdPrefix(prefix);
  // gunicorn's dogstatsd_tags, appended as given: `|#tag,tag`.
  const after = tags ? `|#${tags}` : "";
  const send = (line: string) => sender.send(before + line + after);
  return {
    increment: (name) => send(`${name}:1|c|@1.0`),
    timing: (name, ms) => send(`${name}:${ms}|ms`),
    gauge: (name, value) => send(`${name}:${value}|g`),
    // The batch of the last bufferFlushInterval went with the process unless sent here: the
    // library's close sends it, and calls back once the socket has let it go.
    close: () => sent((done) => client.close(done)),
    flush: () => sent((done) => client.flush(done)),
  };
}

/**
 * The master's Metrics: its logger lives on through HUPs, while gunicorn's reload sets statsd up
 * again from the new configuration. A HUP points it at the new target (`use`): what is sent while
 * the new client is made waits for it, and the old one is closed (its batch sent) after.
 */
export class MetricsSwitch implements Metrics {
  #target: Metrics | undefined;
  /** The key last asked for: a HUP with the same statsd settings keeps the target. */
  #wanted: string;
  /** Switches run one after another, in the order asked (a rollback after a HUP). */
  #switching: Promise<void> = Promise.resolve();
  #pending = 0;
  /** Sent while a switch was under way: for the target it ends with. */
  #held: ((target: Metrics) => void)[] = [];

  /** Starts with `target` (made from `key`), or with none. */
  constructor(target?: Metrics, key = "") {
    this.#target = target;
    this.#wanted = key;
  }

  /**
   * Sends to what `open()` makes from here on, or nowhere when `key` is ""; nothing changes
   * when `key` is the one asked for last. Rejects when `open()` does (the old target stays).
   */
  use(key: string, open: () => Promise<Metrics>): Promise<void> {
    if (key === this.#wanted) return this.#switching;
    this.#wanted = key;
    this.#pending++;
    const switched = this.#switching.then(async () => {
      const old = this.#target;
      try {
        this.#target = key ? await open() : undefined;
      } catch (error) {
        // Not the one in use: the same settings again try again.
        this.#wanted = "\0";
        throw error;
      } finally {
        if (--this.#pending === 0) this.#release();
      }
      // Its last batch goes out as it closes, without holding up the master's loop.
      old?.close().catch(() => {});
    });
    this.#switching = switched.catch(() => {});
    return switched;
  }

  #release(): void {
    const target = this.#target;
    for (const send of this.#held.splice(0)) if (target) send(target);
  }

  #send(send: (target: Metrics) => void): void {
    if (this.#pending) this.#held.push(send);
    else if (this.#target) send(this.#target);
  }

  increment(name: string): void {
    this.#send((target) => target.increment(name));
  }
  timing(name: string, ms: number | string): void {
    this.#send((target) => target.timing(name, ms));
  }
  gauge(name: string, value: number): void {
    this.#send((target) => target.gauge(name, value));
  }
  close(): Promise<void> {
    return this.#switching.then(() => this.#target?.close());
  }
  flush(): Promise<void> {
    return this.#switching.then(() => this.#target?.flush());
  }
}
