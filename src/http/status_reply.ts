// Every reply appserve makes itself (not the app): reason phrases, and the plain-text error
// replies of the HTTP layer, the worker and the gthread watchdog, in one shape.

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

/** The body of a status reply: the reason, then why. */
export function statusText(status: number, detail?: string): string {
  const reason = reasonPhrase(status);
  return detail ? `${reason}: ${detail}\n` : `${reason}\n`;
}

/** A plain-text status reply that closes the connection. */
export function statusReply(status: number, detail?: string): Response {
  return new Response(statusText(status, detail), {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", connection: "close" },
  });
}

/** The same reply as raw HTTP/1.1 bytes' text, for writing straight to a socket or an fd. */
export function rawStatusReply(status: number, detail?: string): string {
  const text = statusText(status, detail);
  return `HTTP/1.1 ${status} ${
    reasonPhrase(status)
  }\r\ncontent-type: text/plain; charset=utf-8\r\n` +
    `content-length: ${new TextEncoder().encode(text).length}\r\nconnection: close\r\n` +
    `server: appserve\r\n\r\n${text}`;
}
