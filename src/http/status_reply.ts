// Every status line and every reply appserve makes itself (not the app), in one place: reason
// phrases, the writer's status lines, 100 Continue, and the plain-text replies of the HTTP layer,
// the worker classes and the gthread watchdog (the 413 and the 500 among them, each built here once).

const REASONS: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  102: "Processing",
  103: "Early Hints",
  200: "OK",
  201: "Created",
  202: "Accepted",
  203: "Non-Authoritative Information",
  204: "No Content",
  205: "Reset Content",
  206: "Partial Content",
  207: "Multi-Status",
  208: "Already Reported",
  226: "IM Used",
  300: "Multiple Choices",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  305: "Use Proxy",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  407: "Proxy Authentication Required",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  418: "I'm a Teapot",
  421: "Misdirected Request",
  422: "Unprocessable Content",
  423: "Locked",
  424: "Failed Dependency",
  425: "Too Early",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  451: "Unavailable For Legal Reasons",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
  506: "Variant Also Negotiates",
  507: "Insufficient Storage",
  508: "Loop Detected",
  510: "Not Extended",
  511: "Network Authentication Required",
};

/** The standard reason phrase of a status, or "Unknown". */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? "Unknown";
}

// Built once; the writer only indexes this table.
const STATUS_LINES: string[] = [];
for (let s = 100; s < 600; s++) STATUS_LINES[s] = `HTTP/1.1 ${s} ${reasonPhrase(s)}\r\n`;

/** `HTTP/1.1 <status> <reason>` and its CRLF. */
export function statusLine(status: number): string {
  return status >= 100 && status < 600 ? STATUS_LINES[status] : `HTTP/1.1 ${status} Unknown\r\n`;
}

/** The interim reply to `Expect: 100-continue`, whole. */
export const CONTINUE_REPLY = "HTTP/1.1 100 Continue\r\n\r\n";

/** The body of a status reply: the reason, then why. */
export function statusText(status: number, detail?: string): string {
  const reason = reasonPhrase(status);
  return detail ? `${reason}: ${detail}\n` : `${reason}\n`;
}

const TEXT_PLAIN = "text/plain; charset=utf-8";

/** A plain-text status reply that closes the connection. */
export function statusReply(status: number, detail?: string): Response {
  return new Response(statusText(status, detail), {
    status,
    headers: { "content-type": TEXT_PLAIN, connection: "close" },
  });
}

/** The bytes of the body of a status reply (its access line's %(b)s). */
export function statusReplyBodyBytes(status: number, detail?: string): number {
  return new TextEncoder().encode(statusText(status, detail)).length;
}

/**
 * The same reply as raw HTTP/1.1 bytes' text, for writing straight to a socket or an fd;
 * `headOnly`: its head alone (the answer to a HEAD).
 */
export function rawStatusReply(status: number, detail?: string, headOnly = false): string {
  const head = rawReplyHead(status, statusReplyBodyBytes(status, detail));
  return headOnly ? head : head + statusText(status, detail);
}

/**
 * The reply with an empty body (content-length: 0): whole whatever the request's method, for one
 * whose method is not known (a gthread request claimed before its thread recorded it).
 */
export function emptyStatusReply(status: number): string {
  return rawReplyHead(status, 0);
}

function rawReplyHead(status: number, length: number): string {
  return `${statusLine(status)}content-type: ${TEXT_PLAIN}\r\ncontent-length: ${length}\r\n` +
    "connection: close\r\nserver: appserve\r\n\r\n";
}

/**
 * The status of the reply to a request cut off at the graceful timeout before its answer began
 * (Connection.cut, and a hung gthread thread's process for the one in its app): the 504 its
 * access line says.
 */
export const CUT_OFF_STATUS = 504;

/** The reply to a request cut off (CUT_OFF_STATUS), whole or, for a HEAD, its head alone. */
export function cutOffReply(headOnly = false): string {
  return rawStatusReply(CUT_OFF_STATUS, undefined, headOnly);
}

const CUT_OFF_BODY_BYTES = statusReplyBodyBytes(CUT_OFF_STATUS);

/** The body bytes of cutOffReply(headOnly), for its access line. */
export function cutOffReplyBodyBytes(headOnly = false): number {
  return headOnly ? 0 : CUT_OFF_BODY_BYTES;
}

/** Why a request body is refused past limit_request_body (logged, and the 413's detail). */
export function bodyTooLargeReason(limit: number): string {
  return `request body larger than limit_request_body (${limit} bytes)`;
}

/**
 * The 500 for an app that threw or gave no Response: the connection stays usable (the request
 * was read whole), so unlike the other replies it does not say `connection: close`.
 */
export function appErrorReply(): Response {
  return new Response(statusText(500), { status: 500, headers: { "content-type": TEXT_PLAIN } });
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (typeof v !== "object") return typeof v;
  const name = (v as { constructor?: { name?: string } }).constructor?.name;
  return name ? `an object (${name})` : "an object";
}

/** The error for a handler that returned or resolved to something other than a Response. */
export function notAResponse(value: unknown): TypeError {
  return new TypeError(`app handler returned ${describe(value)} instead of a Response`);
}
