// `routes` of an app written as Bun.serve's options (Bun 1.2.3+), served as Bun's router serves
// them: compiled once at load into a tree of path segments, searched per request static child
// first, then `:param`, then a trailing `*`, backtracking when a branch has no route for the
// method. What Bun refuses at serve() is refused here at load, as one line.

import { AppLoadError } from "../errors.ts";
import type { FetchHandler, ServeInfo } from "../fetch_handler.ts";
import type { RouteCookies } from "../runtime/types.ts";

type RouteHandler = (this: ServeInfo, request: Request, info: ServeInfo) => unknown;

/**
 * A static Response route, cloned for each request, with the ETag Bun.serve gives it (its own, or
 * a hash of its body once that is read, which starts at load) and its body's type (a string's is
 * not in Bun's headers, and its 304 names it).
 */
interface Static {
  response: Response;
  etag: string | null;
  type: string | null;
}

/** What a route answers a method with: a handler, or a Response cloned for each request. */
type Answer = RouteHandler | Static;

/** A route's value, compiled: every method alike, one per method, or `false` (to fetch). */
interface Leaf {
  any: Answer | null;
  methods: Record<string, Answer> | null;
  toFetch: boolean;
}

interface Node {
  leaf: Leaf | null;
  statics: Map<string, Node> | null;
  params: { name: string; node: Node }[] | null;
  wildcard: Leaf | null;
}

/** The methods Bun takes as keys of a per-method route (others, lowercase ones too, it refuses). */
const METHODS = new Set([
  "GET",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "HEAD",
  "OPTIONS",
  "CONNECT",
  "TRACE",
]);

// A Leaf that sends the request to fetch (or the 404) whatever a wider route would have said.
const TO_FETCH: Leaf = { any: null, methods: null, toFetch: true };

// What a request that matched a `false` route, or none, is answered with when there is no fetch:
// Bun's 404, with no body.
const notFound: FetchHandler = () => new Response(null, { status: 404 });

function newNode(): Node {
  return { leaf: null, statics: null, params: null, wildcard: null };
}

function answerOf(value: unknown, where: string, impliedType: TypeOfBody | null): Answer {
  if (typeof value === "function") return value as RouteHandler;
  if (value instanceof Response) {
    // Cloned per request: one already read has nothing left to give.
    if (value.bodyUsed) {
      throw new AppLoadError(`${where} is a Response whose body was already read`);
    }
    return tagged(value, impliedType);
  }
  throw new AppLoadError(
    `${where} is ${describe(value)}; expected a Response or a handler function`,
  );
}

/** The type a runtime writes for a body when its headers have none (Runtime.impliedType). */
export type TypeOfBody = (response: Response) => string | null;

// The Content-Type the runtime's own Response puts in the headers for a string body, which an
// empty one keeps (Deno: text/plain;charset=UTF-8; Bun: none, as Bun.serve sends).
let stringType: string | null | undefined;

// The Static for RESPONSE, its ETag set once its body is read: its own ETag field, else (as
// Bun.serve) a hash of a non-empty body. Its fields are made Bun.serve's static route's then too
// (fixFields).
function tagged(response: Response, impliedType: TypeOfBody | null): Static {
  const route: Static = { response, etag: response.headers.get("etag"), type: null };
  // Asked before anything reads the body (Bun's type of a string is forgotten once read).
  const implied = response.headers.has("content-type") ? null : impliedType?.(response) ?? null;
  // Its blob, not `body`: Deno's `body` getter makes a stream of a string body, whose length
  // appserve then no longer knows (a HEAD's Content-Length).
  const own = route.etag !== null;
  response.clone().blob().then(async (blob) => {
    // Not a byte body's type (Bun's blob() calls it text, Bun.serve sends none for its route).
    route.type = blob.type === "" || (implied !== null && !implied.startsWith("text/"))
      ? null
      : blob.type;
    fixFields(response, blob.size, implied);
    if (own || blob.size === 0) return;
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", await blob.arrayBuffer()));
    route.etag = `"${
      [...digest.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("")
    }"`;
  }).catch(() => {
    // A body that fails to read is sent untagged, as it was given (each clone fails the same).
  });
  return route;
}

// RESPONSE's fields made those Bun.serve sends for a static route of SIZE bytes, with GET and
// HEAD alike (measured, Bun 1.4.4), where the runtime's would differ: a string's type (IMPLIED,
// which Bun keeps out of the headers and Bun.serve writes for a handler's GET only, not its
// bytes' type), none for an empty string (Deno's Response has one), and the length (a Blob body
// streams, so a HEAD had none). Immutable fields (Response.redirect under Deno) stay as they are.
function fixFields(response: Response, size: number, implied: string | null): void {
  const headers = response.headers;
  try {
    if (implied !== null && implied.startsWith("text/")) headers.set("content-type", implied);
    stringType ??= new Response("").headers.get("content-type");
    if (size === 0 && stringType !== null && headers.get("content-type") === stringType) {
      headers.delete("content-type");
    }
    if (size > 0 && !headers.has("content-length")) headers.set("content-length", String(size));
  } catch {
    // Immutable: sent as the runtime sends them.
  }
}

// Whether an If-None-Match field names ETAG: `*` alone (as Bun reads it, not in a list), or a tag
// equal to it but for a weak `W/`.
function noneMatch(field: string | null, etag: string): boolean {
  if (field === null) return false;
  if (field.trim() === "*") return true;
  const strong = (tag: string) => tag.startsWith("W/") ? tag.slice(2) : tag;
  const wanted = strong(etag);
  return field.split(",").some((tag) => strong(tag.trim()) === wanted);
}

// A static route's answer to REQUEST, as Bun.serve's: 304 with its fields but no body for a GET or
// HEAD whose If-None-Match names its ETag (a 200's only), else a fresh copy with the ETag.
function staticAnswer(route: Static, request: Request): Response {
  const { response, etag } = route;
  if (etag === null) return response.clone();
  if (
    response.status === 200 && (request.method === "GET" || request.method === "HEAD") &&
    noneMatch(request.headers.get("if-none-match"), etag)
  ) {
    const headers = new Headers(response.headers);
    headers.delete("content-length");
    if (!headers.has("etag")) headers.set("etag", etag);
    if (route.type !== null && !headers.has("content-type")) {
      headers.set("content-type", route.type);
    }
    return new Response(null, { status: 304, headers });
  }
  const copy = response.clone();
  if (copy.headers.has("etag")) return copy;
  try {
    copy.headers.set("etag", etag);
    return copy;
  } catch {
    // Immutable fields (a fetch() answer under Deno): a copy that has it.
    const headers = new Headers(copy.headers);
    headers.set("etag", etag);
    const { status, statusText } = copy;
    return new Response(copy.body, { status, statusText, headers });
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return `${/^[aeiou]/.test(typeof value) ? "an" : "a"} ${typeof value}`;
}

/** The route's value as a Leaf; null for `undefined` (Bun leaves the path unrouted). */
function leafOf(value: unknown, where: string, impliedType: TypeOfBody | null): Leaf | null {
  if (value === undefined) return null;
  if (value === false) return TO_FETCH;
  if (typeof value === "function" || value instanceof Response) {
    return { any: answerOf(value, where, impliedType), methods: null, toFetch: false };
  }
  if (value instanceof Blob) {
    throw new AppLoadError(
      `${where} is a file (a Blob); appserve serves no file routes: return new Response(file) from a handler`,
    );
  }
  if (value === null || typeof value !== "object") {
    throw new AppLoadError(
      `${where} is ${describe(value)}; expected a Response, a handler, { GET, POST, ... } or false`,
    );
  }
  const record = value as Record<string, unknown>;
  if (typeof record.index === "string") {
    throw new AppLoadError(
      `${where} is an HTML import: Bun's bundler serves those, appserve does not (build the page and serve its files from a handler)`,
    );
  }
  if (typeof record.dir === "string") {
    throw new AppLoadError(
      `${where} is a directory route ({ dir }): appserve serves none; serve the files from a handler or put nginx in front`,
    );
  }
  // No prototype: a request's method ("constructor", "toString") must not find Object's.
  const methods: Record<string, Answer> = Object.create(null);
  const keys = Object.keys(record);
  if (keys.length === 0) {
    throw new AppLoadError(`${where} is an empty object; expected { GET, POST, ... }`);
  }
  for (const key of keys) {
    if (!METHODS.has(key)) {
      throw new AppLoadError(
        `${where} has key "${key}"; a per-method route takes ${[...METHODS].join(", ")}`,
      );
    }
    const one = record[key];
    // A method set to false or undefined is as if not listed (Bun: the search goes on).
    if (one === false || one === undefined) continue;
    methods[key] = answerOf(one, `${where}.${key}`, impliedType);
  }
  // HEAD gets GET's answer (the body is not sent), as under Bun.
  if (methods.HEAD === undefined && methods.GET !== undefined) methods.HEAD = methods.GET;
  return { any: null, methods, toFetch: false };
}

function add(root: Node, path: string, leaf: Leaf): void {
  const segments = path.slice(1).split("/");
  let node = root;
  const names = new Set<string>();
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (segment === "*") {
      // Bun serves `*` only as the last segment; elsewhere the route never matches.
      if (i === segments.length - 1 && node.wildcard === null) node.wildcard = leaf;
      return;
    }
    if (segment.startsWith(":")) {
      const name = segment.slice(1);
      if (name !== "" && names.has(name)) {
        throw new AppLoadError(`Route "${path}" names the parameter "${name}" twice`);
      }
      names.add(name);
      node.params ??= [];
      let next = node.params.find((p) => p.name === name)?.node;
      if (next === undefined) node.params.push({ name, node: next = newNode() });
      node = next;
    } else {
      node.statics ??= new Map();
      let next = node.statics.get(segment);
      if (next === undefined) node.statics.set(segment, next = newNode());
      node = next;
    }
  }
  node.leaf ??= leaf;
}

// The first leaf that takes METHOD, static children before params before a wildcard; the
// parameters' raw values pushed on `found` (name, value pairs) along the way.
function search(
  node: Node,
  segments: string[],
  i: number,
  method: string,
  found: string[],
): Leaf | null {
  if (i === segments.length) {
    if (node.leaf !== null && takes(node.leaf, method)) return node.leaf;
  } else {
    const segment = segments[i];
    const next = node.statics?.get(segment);
    if (next !== undefined) {
      const leaf = search(next, segments, i + 1, method, found);
      if (leaf !== null) return leaf;
    }
    if (node.params !== null && segment !== "") {
      for (const param of node.params) {
        const depth = found.length;
        found.push(param.name, segment);
        const leaf = search(param.node, segments, i + 1, method, found);
        if (leaf !== null) return leaf;
        found.length = depth;
      }
    }
  }
  if (node.wildcard !== null && i < segments.length && takes(node.wildcard, method)) {
    return node.wildcard;
  }
  return null;
}

function takes(leaf: Leaf, method: string): boolean {
  return leaf.toFetch || leaf.any !== null || leaf.methods![method] !== undefined;
}

const REPLACEMENT = [0xef, 0xbf, 0xbd];

/** A parameter's value percent-decoded, invalid escapes and UTF-8 as U+FFFD (as Bun does). */
export function decodeParam(raw: string): string {
  if (!raw.includes("%")) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    const bytes: number[] = [];
    for (let i = 0; i < raw.length; i++) {
      const c = raw.charCodeAt(i);
      if (c !== 0x25) {
        bytes.push(c);
        continue;
      }
      const hex = raw.slice(i + 1, i + 3);
      if (/^[0-9a-fA-F]{2}$/.test(hex)) bytes.push(parseInt(hex, 16));
      else bytes.push(...REPLACEMENT);
      if (hex.length === 2) i += 2;
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  }
}

/** The path of a request's URL: from the first `/` after the authority to `?` or `#`. */
export function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  let end = url.indexOf("?", start);
  const hash = url.indexOf("#", start);
  if (hash >= 0 && (end < 0 || hash < end)) end = hash;
  return end < 0 ? url.slice(start) : url.slice(start, end);
}

/** The number of routes `routes` holds that can answer (the `false` and `undefined` ones aside). */
export function servedRouteCount(routes: Record<string, unknown>): number {
  return Object.values(routes).filter((v) => v !== false && v !== undefined).length;
}

/** What makes a request's `cookies` from its Cookie field (Runtime.routeCookies). */
export type CookieMaker = (cookieField: string | null) => RouteCookies;

// Where a routed request keeps what gives its cookies' Set-Cookie lines: the map is made on the
// first read of `req.cookies` (most handlers never read it; parsing costs more than the getter).
const CHANGES = Symbol("appserve.cookieChanges");
type Lent = Request & { [CHANGES]?: () => string[] };
const NONE: string[] = [];

function lendCookies(request: Request, make: CookieMaker): void {
  let jar: RouteCookies | undefined;
  Object.defineProperty(request, "cookies", {
    configurable: true,
    get: () => jar ??= make(request.headers.get("cookie")),
  });
  (request as Lent)[CHANGES] = () => jar?.toSetCookieHeaders() ?? NONE;
}

// The Set-Cookie lines a Response had of its own before this took it (withSetCookies).
const OWN_COOKIES = new WeakMap<Response, string[]>();

// A copy of `response` whose Set-Cookie fields are `own`, then `lines`.
function copyWith(response: Response, own: string[], lines: string[]): Response {
  const headers = new Headers(response.headers);
  headers.delete("set-cookie");
  for (const line of [...own, ...lines]) headers.append("set-cookie", line);
  const { status, statusText } = response;
  return new Response(response.body, { status, statusText, headers });
}

// The Response with a Set-Cookie field for each line, after its own fields, as Bun.serve writes
// them: the first time on its own fields, keeping what Bun infers from its body (its body is not
// read here). One the app answers with again can only be bodiless (Bun.serve sends a body once),
// a constant `new Response(null, { status: 204 })`: that gets a copy with its own fields, never
// the earlier requests' cookies. Immutable fields (a fetch() answer, Deno's Response.redirect): a
// copy too.
function withSetCookies(response: unknown, lines: string[]): unknown {
  if (lines.length === 0 || !(response instanceof Response)) return response;
  const seen = OWN_COOKIES.get(response);
  if (seen !== undefined) return copyWith(response, seen, lines);
  const own = response.headers.getSetCookie();
  try {
    for (const line of lines) response.headers.append("set-cookie", line);
  } catch {
    return copyWith(response, own, lines);
  }
  OWN_COOKIES.set(response, own);
  return response;
}

/**
 * HANDLER with the changes a route's handler made to `req.cookies` answered as Set-Cookie fields,
 * as `Bun.serve` does: on the Response the handler gives, or the app's `error` gives for what it
 * threw (so HANDLER is the whole app, error handler included).
 */
export function withRouteCookies(handler: FetchHandler): FetchHandler {
  return (request, info) => {
    const result = handler(request, info);
    const changes = (request as Lent)[CHANGES];
    if (changes === undefined) return result;
    return (result instanceof Promise
      ? result.then((response) => withSetCookies(response, changes()))
      : withSetCookies(result, changes())) as ReturnType<FetchHandler>;
  };
}

/**
 * A handler that answers ROUTES as `Bun.serve` does, and hands what none of them takes to
 * FALLBACK (the app's fetch), or answers it 404 when there is none. A handler route gets the
 * request with its `params` (percent-decoded) and, as `this` and second argument, what fetch
 * gets for Bun's `server`, and `cookies` when COOKIES makes them (Bun's, withRouteCookies answers
 * their changes); a Response route answers every method with a fresh clone, its fields those
 * Bun.serve sends for it once its body is read (IMPLIED_TYPE: Runtime.impliedType).
 */
export function routesHandler(
  routes: unknown,
  fallback: FetchHandler | null,
  cookies: CookieMaker | null = null,
  impliedType: TypeOfBody | null = null,
): FetchHandler {
  if (routes === null || typeof routes !== "object" || Array.isArray(routes)) {
    throw new AppLoadError(`The app's routes is ${describe(routes)}; expected an object of paths`);
  }
  const root = newNode();
  // Whole paths without params or a wildcard: one Map lookup before any search.
  const exact = new Map<string, Leaf>();
  // Without a parameter or wildcard anywhere, what the Map lacks no search finds.
  let searched = false;
  for (const [path, value] of Object.entries(routes as Record<string, unknown>)) {
    const where = `Route "${path}"`;
    // An empty path is accepted by Bun and matches nothing.
    if (path === "") continue;
    if (!path.startsWith("/")) throw new AppLoadError(`${where} must start with "/"`);
    if (/[^\x21-\x7e]/.test(path)) {
      throw new AppLoadError(`${where} has a character to percent-encode (non-ASCII or a space)`);
    }
    const leaf = leafOf(value, where, impliedType);
    if (leaf === null) continue;
    add(root, path, leaf);
    if (!/\/[:*]/.test(path)) {
      if (!exact.has(path)) exact.set(path, leaf);
    } else searched = true;
  }
  const otherwise = fallback ?? notFound;
  const answer = (
    leaf: Leaf,
    request: Request,
    info: ServeInfo,
    params: Record<string, string>,
  ): Response | Promise<Response> => {
    if (leaf.toFetch) return otherwise(request, info);
    const chosen = leaf.any ?? leaf.methods![request.method];
    if (typeof chosen !== "function") return staticAnswer(chosen, request);
    // Assigned, not defined: the cheapest on both runtimes' Request (docs/architecture.md).
    (request as Request & { params: Record<string, string> }).params = params;
    if (cookies !== null) lendCookies(request, cookies);
    return chosen.call(info, request, info) as Response | Promise<Response>;
  };
  return (request, info) => {
    const path = pathOf(request.url);
    const method = request.method;
    const leaf = exact.get(path);
    if (leaf !== undefined && takes(leaf, method)) return answer(leaf, request, info, {});
    if (!searched) return otherwise(request, info);
    const found: string[] = [];
    const matched = search(root, path.slice(1).split("/"), 0, method, found);
    if (matched === null) return otherwise(request, info);
    const params: Record<string, string> = {};
    for (let i = 0; i < found.length; i += 2) {
      if (found[i] !== "") params[found[i]] = decodeParam(found[i + 1]);
    }
    return answer(matched, request, info, params);
  };
}
