import assert from "node:assert/strict";
import process from "node:process";
import {
  type AccessEntry,
  accessLogTime,
  compileAccessFormat,
  compileAccessWriter,
  DEFAULT_ACCESS_LOG_FORMAT,
} from "../src/log/access_format.ts";
import { LineBuffer } from "../src/log/line_buffer.ts";

function entry(overrides: Partial<AccessEntry> = {}): AccessEntry {
  return {
    request: new Request("http://h/a%20b/c?x=1&y=2", {
      headers: {
        "user-agent": 'curl/8 "quoted"',
        referer: "http://ref/",
        authorization: `Basic ${btoa("alice:secret")}`,
        "x-req": "in",
      },
    }),
    response: new Response("hello", { status: 201, headers: { "x-res": "out" } }),
    details: {
      remote: { transport: "tcp", hostname: "10.1.2.3", port: 5 },
      protocol: "HTTP/1.1",
      target: "/a%20b/c?x=1&y=2",
      bodyBytes: 5,
    },
    durationMs: 1234.5678,
    end: new Date(2026, 7, 22, 11, 10, 6),
    ...overrides,
  };
}

Deno.test("compileAccessFormat() renders gunicorn's default format", () => {
  const line = compileAccessFormat(DEFAULT_ACCESS_LOG_FORMAT)(entry());
  assert.equal(
    line,
    `10.1.2.3 - alice ${
      accessLogTime(entry().end)
    } "GET /a%20b/c?x=1&y=2 HTTP/1.1" 201 5 "http://ref/" "curl/8 \\"quoted\\""`,
  );
});

Deno.test("compileAccessFormat() renders every atom", () => {
  const atoms =
    "h l u r m U q H s B b f a T D M L p {x-req}i {x-res}o {PATH_INFO}e {nope}i %(zz)s %(constructor)s";
  const format = atoms.split(" ").map((a) => a.startsWith("%") ? a : `%(${a})s`).join("|");
  const line = compileAccessFormat(format)(entry());
  assert.deepEqual(line.split("|"), [
    "10.1.2.3",
    "-",
    "alice",
    "GET /a%20b/c?x=1&y=2 HTTP/1.1",
    "GET",
    "/a b/c",
    "x=1&y=2",
    "HTTP/1.1",
    "201",
    "5",
    "5",
    "http://ref/",
    'curl/8 \\"quoted\\"',
    "1",
    "1234567",
    "1234",
    "1.234568",
    `<${process.pid}>`,
    "in",
    "out",
    "/a b/c",
    "-",
    "-",
    "-",
  ]);
});

Deno.test("{NAME}e is the request's CGI variables, never the process environment", () => {
  process.env.APPSERVE_SECRET_TEST = "hunter2";
  process.env.HTTP_APPSERVE_TEST = "from-the-process";
  try {
    const names = [
      "REQUEST_METHOD",
      "SCRIPT_NAME",
      "PATH_INFO",
      "QUERY_STRING",
      "RAW_URI",
      "SERVER_PROTOCOL",
      "REMOTE_ADDR",
      "REMOTE_PORT",
      "SERVER_NAME",
      "SERVER_PORT",
      "wsgi.url_scheme",
      "CONTENT_TYPE",
      "CONTENT_LENGTH",
      "HTTP_X_REQ",
      "HTTP_USER_AGENT",
      "HTTP_APPSERVE_TEST",
      "HTTP_CONTENT_TYPE",
      "APPSERVE_SECRET_TEST",
      "PATH",
      "HOME",
    ];
    const format = names.map((n) => `%({${n}}e)s`).join("|");
    const e = entry({
      request: new Request("https://example.test:8443/a%20b/c?x=1&y=2", {
        method: "POST",
        body: "hi",
        headers: { "x-req": "in", "user-agent": "ua", "content-type": "text/plain" },
      }),
    });
    assert.deepEqual(compileAccessFormat(format)(e).split("|"), [
      "POST",
      "",
      "/a b/c",
      "x=1&y=2",
      "/a%20b/c?x=1&y=2",
      "HTTP/1.1",
      "10.1.2.3",
      "5",
      "example.test",
      "8443",
      "https",
      "text/plain",
      "-",
      "in",
      "ua",
      "-",
      "-",
      "-",
      "-",
      "-",
    ]);
    const plain = "%({SERVER_NAME}e)s %({SERVER_PORT}e)s %({wsgi.url_scheme}e)s";
    assert.equal(compileAccessFormat(plain)(entry()), "h 80 http");
  } finally {
    delete process.env.APPSERVE_SECRET_TEST;
    delete process.env.HTTP_APPSERVE_TEST;
  }
});

Deno.test("compileAccessFormat() shows an empty h on unix sockets and - for an empty body", () => {
  const e = entry({
    details: {
      remote: { transport: "unix", hostname: "", port: 0 },
      protocol: "HTTP/1.0",
      target: "/",
      bodyBytes: 0,
    },
  });
  assert.equal(compileAccessFormat("[%(h)s] %(b)s %(B)s %(H)s")(e), "[] - 0 HTTP/1.0");
});

Deno.test("accessLogTime() uses [dd/Mon/yyyy:HH:MM:SS +zzzz]", () => {
  assert.match(
    accessLogTime(new Date(2026, 0, 2, 3, 4, 5)),
    /^\[02\/Jan\/2026:03:04:05 [+-]\d{4}\]$/,
  );
});

Deno.test("compileAccessFormat() reads request headers from the raw fields when it has them", () => {
  const e = entry();
  e.details.rawHeaders = [
    ["User-Agent", "raw-agent"],
    ["X-Twice", "a"],
    ["x-twice", "b"],
  ];
  assert.equal(
    compileAccessFormat("%(a)s|%(f)s|%(u)s|%({X-TWICE}i)s|%({x-req}i)s")(e),
    "raw-agent|-|-|a, b|-",
  );
});

/** As the Logger does: every entry's values taken first, then the batch's lines written. */
function writeBatch(format: string, entries: AccessEntry[], out: LineBuffer): void {
  const writer = compileAccessWriter(format);
  const slots: unknown[] = [];
  entries.forEach((e, i) => writer.take(e, slots, i * writer.width));
  entries.forEach((_, i) => {
    writer.put(slots, i * writer.width, out);
    out.newline();
  });
}

Deno.test("compileAccessWriter() writes a batch of lines as UTF-8, each value escaped", () => {
  const format = 'ü %(h)s %(l)s "%(r)s" %(U)s %(s)s %(b)s %(B)s "%(a)s" %(T)s %(t)s|%%(s)s';
  const cases = [
    entry(),
    // Non-ASCII (UTF-8 bytes in a header, as the HTTP layer hands them over: one char per byte;
    // an emoji in the decoded path), with a quote after it, and a value longer than the first
    // buffer.
    entry({
      request: new Request("http://h/", {
        headers: { "user-agent": `na\u00c3\u00afve "agent" ${"x".repeat(70_000)}` },
      }),
      details: {
        remote: { transport: "tcp", hostname: "::1", port: 5 },
        protocol: "HTTP/1.0",
        target: "/%F0%9F%99%82%22?q=1",
        bodyBytes: 0,
      },
    }),
    // A unix-socket peer (h is empty), a quote in the target, a large body, another second.
    entry({
      details: {
        remote: { transport: "unix", hostname: "", port: 0 },
        protocol: "HTTP/1.1",
        target: '/say"hi"',
        bodyBytes: 4_294_967_296,
      },
      durationMs: 0.25,
      end: new Date(2026, 0, 2, 3, 4, 5),
    }),
  ];
  const out = new LineBuffer();
  writeBatch(format, cases, out);
  assert.equal(out.lines, 3);
  const time = (e: AccessEntry) => accessLogTime(e.end);
  assert.equal(
    new TextDecoder().decode(out.take()),
    `ü 10.1.2.3 - "GET /a%20b/c?x=1&y=2 HTTP/1.1" /a b/c 201 5 5 "curl/8 \\"quoted\\"" 1 ` +
      `${time(cases[0])}|%(s)s\n` +
      `ü ::1 - "GET /%F0%9F%99%82%22?q=1 HTTP/1.0" /🙂\\" 201 - 0 ` +
      `"naïve \\"agent\\" ${"x".repeat(70_000)}" 1 ${time(cases[1])}|%(s)s\n` +
      `ü  - "GET /say\\"hi\\" HTTP/1.1" /say\\"hi\\" 201 4294967296 4294967296 ` +
      `"curl/8 \\"quoted\\"" 0 ${time(cases[2])}|%(s)s\n`,
  );
  assert.equal(out.lines, 0);
  assert.equal(out.take().length, 0, "take() starts over empty");
});

Deno.test("compileAccessFormat() is the writer's line as a string", () => {
  const format = DEFAULT_ACCESS_LOG_FORMAT + " %(U)s %({x-req}i)s";
  const e = entry({ details: { ...entry().details, target: "/%C3%BC" } });
  const out = new LineBuffer();
  writeBatch(format, [e], out);
  const line = compileAccessFormat(format)(e);
  assert.equal(`${line}\n`, new TextDecoder().decode(out.take()));
  assert.ok(line.endsWith(" /ü in"));
});

Deno.test("LineBuffer hands out each batch and fills the same buffer again", () => {
  const out = new LineBuffer();
  out.quoted('a "b"');
  out.newline();
  const first = out.take();
  assert.equal(new TextDecoder().decode(first), 'a \\"b\\"\n');
  out.text("zzzzzz");
  out.newline();
  const second = out.take();
  assert.equal(new TextDecoder().decode(second), "zzzzzz\n");
  assert.equal(second.buffer, first.buffer, "no new buffer per batch");
  // A line longer than what is kept: handed out whole, then a small buffer again.
  out.text("x".repeat(2 * 1024 * 1024));
  out.newline();
  assert.equal(out.take().length, 2 * 1024 * 1024 + 1);
  out.text("y");
  assert.equal(out.take().buffer.byteLength, 64 * 1024);
});

Deno.test("compileAccessFormat() reads %% as a literal %, as Python's % operator does", () => {
  const e = entry();
  assert.equal(compileAccessFormat("a %%(s)s 100%% %(s)s%%")(e), "a %(s)s 100% 201%");
  const out = new LineBuffer();
  writeBatch("a %%(s)s 100%% %(s)s%%", [e], out);
  assert.equal(new TextDecoder().decode(out.take()), "a %(s)s 100% 201%\n");
});

Deno.test("an entry is plain data: a copy or its JSON keeps every field", () => {
  const e = entry();
  const render = compileAccessFormat(DEFAULT_ACCESS_LOG_FORMAT);
  assert.equal(render({ ...e }), render(e));
  assert.deepEqual(Object.keys({ ...e }).sort(), [
    "details",
    "durationMs",
    "end",
    "request",
    "response",
  ]);
  assert.equal(JSON.parse(JSON.stringify(e)).end, e.end.toISOString());
});

Deno.test("compileAccessFormat({ json: true }) writes one field per atom, named by the atom", () => {
  const end = new Date(Date.UTC(2026, 11, 3, 6, 48, 49, 7));
  const line = compileAccessFormat(DEFAULT_ACCESS_LOG_FORMAT, { json: true })(entry({ end }));
  assert.deepEqual(Object.keys(JSON.parse(line)), [
    "time",
    "log",
    "h",
    "l",
    "u",
    "t",
    "r",
    "s",
    "b",
    "f",
    "a",
  ]);
  assert.deepEqual(JSON.parse(line), {
    time: "2026-12-03T06:48:49.007Z",
    log: "access",
    h: "10.1.2.3",
    l: "-",
    u: "alice",
    t: accessLogTime(end),
    r: "GET /a%20b/c?x=1&y=2 HTTP/1.1",
    s: 201,
    b: "5",
    f: "http://ref/",
    a: 'curl/8 "quoted"',
  });
});

Deno.test("compileAccessFormat({ json: true }) types the numbers, keeps header atoms, drops literals and repeats", () => {
  const format = 'x %(s)s "%(B)s" %(b)s %(T)s %(M)s %(D)s %(L)s %(p)s %({x-req}i)s %({nope}i)s ' +
    "%(zz)s %(s)s %% %({x-res}o)s";
  const line = compileAccessFormat(format, { json: true })(
    entry({ details: { ...entry().details, bodyBytes: 0 } }),
  );
  const fields = JSON.parse(line);
  assert.deepEqual({ ...fields, time: undefined }, {
    time: undefined,
    log: "access",
    s: 201,
    B: 0,
    b: "-",
    T: 1,
    M: 1234,
    D: 1234567,
    L: "1.234568",
    p: `<${process.pid}>`,
    "{x-req}i": "in",
    "{nope}i": "-",
    zz: "-",
    "{x-res}o": "out",
  });
});

Deno.test("compileAccessFormat({ json: true }) escapes what JSON must, whatever the header holds", () => {
  const nasty = 'q"uo\\te \u0001\u001f\u007f é 日本 \u{1F600}';
  const request = new Request("http://h/");
  // Headers reject control characters; rawHeaders are what the HTTP layer hands over.
  const details = {
    ...entry().details,
    target: '/p"\\ath',
    rawHeaders: [["User-Agent", nasty], ["X-Ctl", "a\tb"]] as [string, string][],
  };
  const render = compileAccessFormat("%(a)s %(r)s %({x-ctl}i)s", { json: true });
  const fields = JSON.parse(render(entry({ request, details })));
  assert.equal(fields.a, nasty);
  assert.equal(fields.r, 'GET /p"\\ath HTTP/1.1');
  assert.equal(fields["{x-ctl}i"], "a\tb");
});

Deno.test("LineBuffer.json() writes a JSON string's inside that reads back as the text", () => {
  const samples = [
    "",
    "plain",
    Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)).join(""),
    'mixed \u0000 é \\ " 日本',
    "lone \ud800 surrogate",
  ];
  const decoder = new TextDecoder();
  for (const text of samples) {
    const out = new LineBuffer(8);
    out.json(text);
    const inside = decoder.decode(out.take());
    assert.equal(JSON.parse(`"${inside}"`), text);
    assert.ok([...inside].every((c) => c >= " "), inside);
  }
});

Deno.test("a control character in a value is written \\xHH: a decoded %0A forges no line", () => {
  const format = '%(U)s "%(a)s"';
  const cases = [
    // ASCII, then the same after a character beyond ASCII (the encoder's path).
    entry({ details: { ...entry().details, target: "/x%0A127.0.0.1%0D%09y%7F" } }),
    entry({ details: { ...entry().details, target: "/%C3%BC%0Aforged" } }),
    entry({ request: new Request("http://h/", { headers: { "user-agent": "a\tb" } }) }),
    // A backslash is no escape of its own; C1 and the line separators, beyond ASCII.
    entry({ details: { ...entry().details, target: "/a%5Cx0ab%C2%85%E2%80%A8%C2%9B" } }),
  ];
  const out = new LineBuffer();
  writeBatch(format, cases, out);
  assert.equal(out.lines, 4);
  assert.equal(
    new TextDecoder().decode(out.take()),
    '/x\\x0a127.0.0.1\\x0d\\x09y\\x7f "curl/8 \\"quoted\\""\n' +
      '/ü\\x0aforged "curl/8 \\"quoted\\""\n' +
      '/a b/c "a\\x09b"\n' +
      '/a\\x5cx0ab\\x85\\u2028\\x9b "curl/8 \\"quoted\\""\n',
  );
  assert.equal(compileAccessFormat("%(U)s")(cases[0]), "/x\\x0a127.0.0.1\\x0d\\x09y\\x7f");
});

Deno.test("LineBuffer.quotedBytes() and jsonBytes() decode UTF-8 byte strings, else write \\xHH", () => {
  const decoder = new TextDecoder();
  const bytes = (...codes: number[]) => String.fromCharCode(...codes);
  const cases: [string, string, string][] = [
    // [byte string, quotedBytes, jsonBytes read back]
    ['plain "q" \\', 'plain \\"q\\" \\x5c', 'plain "q" \\'],
    [bytes(0x61, 0xc3, 0xa9), "aé", "aé"],
    [bytes(0xe2, 0x80, 0xa8, 0x0a), "\\u2028\\x0a", "\u2028\n"],
    [bytes(0x61, 0xe9, 0x22, 0x5c, 0x01), 'a\\xe9\\"\\x5c\\x01', 'a\\xe9"\\\u0001'],
    // Not a byte string (a runtime that decoded it already): the text as it is.
    ["日本 é", "日本 é", "日本 é"],
  ];
  for (const [value, quoted, json] of cases) {
    const out = new LineBuffer(8);
    out.quotedBytes(value);
    assert.equal(decoder.decode(out.take()), quoted);
    out.jsonBytes(value);
    assert.equal(JSON.parse(`"${decoder.decode(out.take())}"`), json);
  }
});
