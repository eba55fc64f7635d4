// A byte stream carried over a MessagePort, for bodies that cross the thread
// boundary of gthread workers. Bun cannot transfer a ReadableStream, so both
// runtimes use this small protocol: the receiver grants credits (chunks it has
// room for), the sender reads from its stream only while it holds credit. At
// most WINDOW chunks are ever in flight or queued, whatever the body's size.

/** Chunks the receiver buffers (queued + in flight) before the sender pauses. */
const WINDOW = 8;

type ToReceiver =
  | { chunk: Uint8Array }
  | { done: true }
  | { error: string };
type ToSender = { credit: number } | { cancel: string };

/**
 * Pumps `stream` into `port` as the far side asks for it. Chunks are copied
 * (structured clone), never transferred: the producer may still own the buffer.
 * Resolves when the stream ended, failed, or the receiver cancelled it.
 */
export function sendStream(
  stream: ReadableStream<Uint8Array>,
  port: MessagePort,
  signal?: AbortSignal,
): Promise<void> {
  const reader = stream.getReader();
  let credit = 0;
  let reading = false;
  let finished = false;
  let settle!: () => void;
  const ended = new Promise<void>((resolve) => settle = resolve);
  const finish = () => {
    if (finished) return;
    finished = true;
    port.close();
    settle();
  };
  const pump = async () => {
    if (reading || finished) return;
    reading = true;
    try {
      while (credit > 0 && !finished) {
        const { done, value } = await reader.read();
        if (finished) break;
        if (done) {
          post({ done: true });
          finish();
          break;
        }
        if (value.byteLength === 0) continue;
        credit--;
        post({ chunk: value });
      }
    } catch (error) {
      if (!finished) {
        post({ error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
        finish();
      }
    } finally {
      reading = false;
    }
  };
  const post = (message: ToReceiver) => port.postMessage(message);
  port.onmessage = (event: MessageEvent<ToSender>) => {
    const message = event.data;
    if ("credit" in message) {
      credit += message.credit;
      pump();
    } else {
      reader.cancel(message.cancel).catch(() => {});
      finish();
    }
  };
  // The far side is gone (its thread was terminated): stop reading.
  signal?.addEventListener("abort", () => {
    reader.cancel(signal.reason).catch(() => {});
    finish();
  });
  return ended;
}

/**
 * The ReadableStream fed by a sendStream() on the other end of `port`; `signal`
 * errors it when the sender can no longer answer (its thread is gone).
 */
export function receiveStream(port: MessagePort, signal?: AbortSignal): ReadableStream<Uint8Array> {
  // Credits granted and not yet answered by a chunk.
  let outstanding = 0;
  let closed = false;
  const close = () => {
    closed = true;
    port.close();
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      signal?.addEventListener("abort", () => {
        if (closed) return;
        close();
        controller.error(signal.reason);
      });
      port.onmessage = (event: MessageEvent<ToReceiver>) => {
        if (closed) return;
        const message = event.data;
        if ("chunk" in message) {
          outstanding--;
          controller.enqueue(message.chunk);
        } else if ("done" in message) {
          close();
          controller.close();
        } else {
          close();
          controller.error(new Error(message.error));
        }
      };
    },
    // Called whenever the queue has room: top the window up to what is free.
    pull(controller) {
      const room = (controller.desiredSize ?? 0) - outstanding;
      if (room > 0 && !closed) {
        outstanding += room;
        port.postMessage({ credit: room } satisfies ToSender);
      }
    },
    cancel(reason) {
      if (closed) return;
      port.postMessage({ cancel: String(reason) } satisfies ToSender);
      close();
    },
  }, new CountQueuingStrategy({ highWaterMark: WINDOW }));
}
