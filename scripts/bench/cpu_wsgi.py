# gunicorn's side of the worker-class benchmark: the same fixed amount of
# arithmetic as scripts/bench/worker_classes_app.ts, calibrated at import to
# about 50 ms. Under the GIL two threads cannot run it at the same time.
import time


def work(iterations):
    x = 1
    for _ in range(iterations):
        x = (x * 1103515245 + 12345) % 2147483648
    return x


def calibrate(target_ms):
    n = 10_000
    while True:
        start = time.perf_counter()
        work(n)
        took = (time.perf_counter() - start) * 1000
        if took > 20:
            return round(n * target_ms / took)
        n *= 2


ITERATIONS = calibrate(50)


def app(environ, start_response):
    if environ["PATH_INFO"] == "/cpu":
        body = b"%d\n" % work(ITERATIONS)
    else:
        body = b"Hello World!"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
