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
 * again from the new configuration. A HUP points it at the new target (`use`); metrics in between
 * go to the old one, which is closed (its batch sent) once the new one is in place.
 */
export class MetricsSwitch implements Metrics {
  #target: Metrics | undefined;
  /** What #target was made from: a HUP with the same statsd settings keeps it. */
  #key = "";
  /** Switches run one after another, in the order asked (a rollback after a HUP). */
  #switching: Promise<void> = Promise.resolve();

  /** Starts with `target` (made from `key`), or with none. */
  constructor(target?: Metrics, key = "") {
    this.#target = target;
    this.#key = key;
  }

  /**
   * Sends to what `open()` makes from here on, or nowhere when `key` is ""; nothing changes
   * when `key` is the one in use.
   */
  use(key: string, open: () => Promise<Metrics>): Promise<void> {
    const switched = this.#switching.then(async () => {
      if (key === this.#key) return;
      const old = this.#target;
      this.#target = key ? await open() : undefined;
      this.#key = key;
      await old?.close();
    });
    // One that failed (the old target kept) is the caller's to report; the next switch still runs.
    this.#switching = switched.catch(() => {});
    return switched;
  }

  increment(name: string): void {
    this.#target?.increment(name);
  }
  timing(name: string, ms: number | string): void {
    this.#target?.timing(name, ms);
  }
  gauge(name: string, value: number): void {
    this.#target?.gauge(name, value);
  }
  close(): Promise<void> {
    return this.#switching.then(() => this.#target?.close());
  }
  flush(): Promise<void> {
    return this.#target?.flush() ?? Promise.resolve();
  }
}
