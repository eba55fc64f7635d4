// BacklogMetric (--enable-backlog-metric) over real listen queues: the sum of what was measured,
// at most once a tick, and nothing at all when no queue could be measured.

import assert from "node:assert/strict";
import type { Config } from "../src/config/settings.ts";
import { Logger } from "../src/log/logger.ts";
import { BacklogMetric } from "../src/master/backlog_metric.ts";
import { ListenQueues, type QueueSources } from "../src/master/listen_queues.ts";
import type { Listener } from "../src/net/listeners.ts";
import { inetSockaddr } from "../src/net/sockaddr.ts";
import { AF_INET } from "../src/net/socket_constants.ts";
import { denoRuntime } from "../src/runtime/deno.ts";

const libc = denoRuntime.libc();

/** A Logger that keeps the gunicorn.backlog values it is given. */
class Recording extends Logger {
  sent: number[] = [];
  override backlog(queued: number): void {
    this.sent.push(queued);
  }
}

function context(listeners: Listener[], enable = true) {
  const config = { enable_backlog_metric: enable, statsd_host: "127.0.0.1:8125" } as Config;
  return { config, runtime: denoRuntime, listeners, reusePort: [], log: new Recording() };
}

const queues = new ListenQueues();
const workers = { backlog: (sources: QueueSources) => queues.read([], sources) };

Deno.test("BacklogMetric sends nothing when no listen queue could be measured", () => {
  const ctx = context([{ address: { kind: "fd", fd: 9999 }, fd: 9999, ownsPath: false }]);
  new BacklogMetric(1000).maybeSend(ctx, workers);
  assert.deepEqual(ctx.log.sent, []);
});

Deno.test("BacklogMetric sends the measured queues' sum, at most once a tick, when on", () => {
  const fd = libc.socket(AF_INET, 1, 0);
  try {
    assert.equal(libc.bind(fd, inetSockaddr("127.0.0.1", 0)), 0);
    assert.equal(libc.listen(fd, 16), 0);
    const listeners: Listener[] = [
      { address: { kind: "tcp", host: "127.0.0.1", port: 1 }, fd, ownsPath: false },
    ];
    const ctx = context(listeners);
    const metric = new BacklogMetric(1000);
    metric.maybeSend(ctx, workers);
    metric.maybeSend(ctx, workers);
    assert.deepEqual(ctx.log.sent, [0]);
    const off = context(listeners, false);
    new BacklogMetric(1000).maybeSend(off, workers);
    assert.deepEqual(off.log.sent, []);
  } finally {
    libc.close(fd);
  }
});
