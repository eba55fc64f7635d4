// Range requests on file bodies (src/http/byte_range.ts): the parser and the decision, as
// measured on Bun.serve, the exchange's use of them (what the access log sees), and, under Bun,
// the wire compared with Bun.serve's (tests/fixtures/bun/byte_range_check.ts).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  answerRange,
  ifRangeHolds,
  parseRange,
  rangedResponse,
  UNSATISFIABLE,
} from "../src/http/byte_range.ts";
import type { RequestHead } from "../src/http/parser.ts";
import type { FileBody } from "../src/runtime/types.ts";
import { rawExchange, withServer } from "./_http_server.ts";
import { PATHS, ROOT } from "./_procs.ts";

Deno.test("parseRange() takes one range of bytes as Bun.serve takes it", () => {
  const cases: [string, number, ReturnType<typeof parseRange>][] = [
    ["bytes=2-5", 20, { start: 2, end: 5 }],
    ["bytes=15-", 20, { start: 15, end: 19 }],
    ["bytes=-3", 20, { start: 17, end: 19 }],
    ["bytes=-30", 20, { start: 0, end: 19 }],
    ["bytes=5-100", 20, { start: 5, end: 19 }],
    ["bytes=19-19", 20, { start: 19, end: 19 }],
    ["bytes=0-", 20, { start: 0, end: 19 }],
    ["Bytes=2-5", 20, { start: 2, end: 5 }],
    [" bytes = 2 - 5 ", 20, { start: 2, end: 5 }],
    ["bytes=\t2-5\t", 20, { start: 2, end: 5 }],
    ["bytes=02-05", 20, { start: 2, end: 5 }],
    ["bytes=0-18446744073709551615", 20, { start: 0, end: 19 }],
    ["bytes=-18446744073709551615", 20, { start: 0, end: 19 }],
    ["bytes=00000000000000000000000002-5", 20, { start: 2, end: 5 }],
    // Past the end, or the last 0 bytes: 416.
    ["bytes=20-", 20, UNSATISFIABLE],
    ["bytes=20-25", 20, UNSATISFIABLE],
    ["bytes=-0", 20, UNSATISFIABLE],
    ["bytes=18446744073709551615-", 20, UNSATISFIABLE],
    ["bytes=0-", 0, UNSATISFIABLE],
    ["bytes=-0", 0, UNSATISFIABLE],
    // Ignored: the whole body, 200.
    ["bytes=-5", 0, null],
    ["bytes=5-2", 20, null],
    ["bytes=0-1,5-6", 20, null],
    ["bytes=0-1, 5-6", 20, null],
    ["bytes=2-5,", 20, null],
    ["bytes=99999999999999999999-", 20, null],
    ["bytes=0-18446744073709551616", 20, null],
    ["bytes=-99999999999999999999", 20, null],
    ["items=2-5", 20, null],
    ["bytes 2-5", 20, null],
    ["bytes==2-5", 20, null],
    ["bytes=a-5", 20, null],
    ["bytes=+2-5", 20, null],
    ["bytes=0x2-5", 20, null],
    ["bytes=2", 20, null],
    ["bytes=", 20, null],
    ["bytes=-", 20, null],
    ["bytes=-5-", 20, null],
    ["", 20, null],
  ];
  for (const [value, length, expected] of cases) {
    assert.deepEqual(parseRange(value, length), expected, `${JSON.stringify(value)} of ${length}`);
  }
});

Deno.test("ifRangeHolds() compares a strong tag or a date, never a weak tag", () => {
  const tagged = new Headers({ etag: '"abc"' });
  const modified = new Headers({ "last-modified": "Wed, 21 Oct 2015 07:28:00 GMT" });
  assert.equal(ifRangeHolds("", new Headers()), true);
  assert.equal(ifRangeHolds('"abc"', tagged), true);
  assert.equal(ifRangeHolds('"xyz"', tagged), false);
  assert.equal(ifRangeHolds('W/"abc"', tagged), false);
  assert.equal(ifRangeHolds('W/"abc"', new Headers({ etag: 'W/"abc"' })), false);
  assert.equal(ifRangeHolds('"abc"', new Headers({ etag: 'W/"abc"' })), false);
  assert.equal(ifRangeHolds("abc", tagged), false);
  assert.equal(ifRangeHolds('"abc"', modified), false);
  assert.equal(ifRangeHolds("Wed, 21 Oct 2015 07:28:00 GMT", modified), true);
  assert.equal(ifRangeHolds("Wednesday, 21-Oct-15 07:28:00 GMT", modified), true);
  assert.equal(ifRangeHolds("Wed, 21 Oct 2015 07:28:01 GMT", modified), false);
  assert.equal(ifRangeHolds("Wed, 21 Oct 2015 07:28:00 GMT", tagged), false);
  assert.equal(ifRangeHolds("not a date", new Headers({ "last-modified": "not a date" })), false);
});

const TEXT = "0123456789abcdefghij";
const fileOf = (text: string, sliced: [number, number][] = []): FileBody => ({
  length: () => text.length,
  slice: (start, end) => {
    sliced.push([start, end]);
    return text.slice(start, end);
  },
  fields: () => "",
});
const headOf = (method: string, fields: [string, string][]): RequestHead =>
  ({ method, headers: fields }) as unknown as RequestHead;

Deno.test("answerRange() answers 206 with the part, 416 past the end, else the app's response", async () => {
  // No body of its own (Deno would type a text body in the headers): the file is the body.
  const app = () =>
    new Response(null, {
      headers: [["etag", '"abc"'], ["content-length", "20"], ["set-cookie", "a=1"], [
        "set-cookie",
        "b=2",
      ]],
    });
  const sliced: [number, number][] = [];
  const part = answerRange(
    app(),
    headOf("GET", [["RANGE", "bytes=2-5"], ["range", "bytes=6-7"]]),
    fileOf(TEXT, sliced),
    "text/x",
  );
  assert.equal(part.status, 206);
  assert.deepEqual(sliced, [[2, 6]], "the first Range field counts");
  assert.equal(part.headers.get("content-range"), "bytes 2-5/20");
  assert.equal(part.headers.get("content-length"), "4");
  assert.equal(part.headers.get("accept-ranges"), "bytes");
  assert.equal(part.headers.get("content-type"), "text/x", "the implied type is kept");
  assert.equal(part.headers.get("etag"), '"abc"');
  assert.deepEqual(part.headers.getSetCookie(), ["a=1", "b=2"]);
  assert.equal(await part.text(), "2345");

  const past = answerRange(app(), headOf("GET", [["range", "bytes=20-"]]), fileOf(TEXT), "t/x");
  assert.equal(past.status, 416);
  assert.equal(past.body, null);
  assert.equal(past.headers.get("content-range"), "bytes */20");
  assert.equal(past.headers.get("content-length"), null, "the writer sends 0");
  assert.equal(past.headers.get("content-type"), null, "no implied type on a 416");
  assert.equal(past.headers.get("accept-ranges"), "bytes");

  const none = new Response("x", { headers: { "accept-ranges": "none" } });
  const both = answerRange(none, headOf("GET", [["range", "bytes=0-0"]]), fileOf(TEXT), null);
  assert.equal(both.headers.get("accept-ranges"), "none, bytes", "as Bun.serve: both");

  // The app's response as it is.
  for (
    const [response, fields] of [
      [app(), []],
      [app(), [["range", "bytes=5-2"]]],
      [app(), [["range", "bytes=0-1,3-4"]]],
      [app(), [["range", "bytes=2-5"], ["if-range", '"xyz"']]],
      [app(), [["range", "bytes=30-"], ["if-range", '"xyz"']]],
      [app(), [["range", ""], ["range", "bytes=2-5"]]],
      [new Response("x", { headers: { "content-range": "bytes 0-1/2" } }), [[
        "range",
        "bytes=2-5",
      ]]],
    ] as [Response, [string, string][]][]
  ) {
    assert.equal(answerRange(response, headOf("GET", fields), fileOf(TEXT), null), response);
  }
  const unknown: FileBody = { length: () => -1, slice: () => "", fields: () => "" };
  const r = app();
  assert.equal(answerRange(r, headOf("GET", [["range", "bytes=0-1"]]), unknown, null), r);
});

Deno.test("rangedResponse() only answers a GET's 200 of a file body", () => {
  const range: [string, string][] = [["range", "bytes=0-1"]];
  let asked = 0;
  const fileBody = (response: Response) => {
    asked++;
    return response.headers.has("x-file") ? fileOf(TEXT) : null;
  };
  const file = (status = 200) => new Response("w", { status, headers: { "x-file": "1" } });
  assert.equal(rangedResponse(file(), headOf("GET", range), fileBody, undefined).status, 206);
  for (
    const [response, method] of [
      [file(), "HEAD"],
      [file(), "POST"],
      [file(206), "GET"],
      [file(404), "GET"],
      [file(201), "GET"],
      [new Response("not a file"), "GET"],
    ] as const
  ) {
    assert.equal(rangedResponse(response, headOf(method, range), fileBody, undefined), response);
  }
  assert.equal(asked, 5, "the file is asked for only for a GET");
});

Deno.test("createHttpServer() answers a Range from a file body, and the access log sees the 206 and the part's bytes", async () => {
  const done: [number, number, string | null][] = [];
  const fileBody = (response: Response) =>
    response.headers.has("x-file") ? fileOf("x".repeat(100_000)) : null;
  await withServer(
    () => new Response("not read", { headers: { "x-file": "1" } }),
    {
      fileBody,
      onRequestDone: (_request, response, _ms, details) =>
        done.push([response.status, details.bodyBytes, response.headers.get("content-range")]),
    },
    async (port) => {
      const part = await rawExchange(
        port,
        "GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=100-40099\r\nConnection: close\r\n\r\n",
      );
      assert.equal(part.status, 206);
      assert.equal(part.headers["content-range"], "bytes 100-40099/100000");
      assert.equal(part.headers["content-length"], "40000");
      assert.equal(part.body.length, 40000);
      const past = await rawExchange(
        port,
        "GET / HTTP/1.1\r\nHost: h\r\nRange: bytes=100000-\r\nConnection: close\r\n\r\n",
      );
      assert.deepEqual([past.status, past.headers["content-length"]], [416, "0"]);
      const head = await rawExchange(
        port,
        "HEAD / HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\nConnection: close\r\n\r\n",
        true,
      );
      assert.equal(head.status, 200);
    },
  );
  assert.deepEqual(done, [
    [206, 40000, "bytes 100-40099/100000"],
    [416, 0, "bytes */100000"],
    [200, 0, null],
  ]);
});

Deno.test("under Bun: a Range on a Bun.file() body is answered as Bun.serve answers it", () => {
  // Bun.serve and appserve's layer side by side in one Bun process, the same app and requests.
  const run = spawnSync(PATHS.bun, ["tests/fixtures/bun/byte_range_check.ts"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  assert.equal(run.stdout.trim(), "ok", run.stderr.slice(0, 4000));
  assert.equal(run.status, 0);
});
