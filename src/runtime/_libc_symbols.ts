// The libc symbols both FFI implementations bind, declared once in Deno's
// notation; bun.ts maps the type names onto bun:ffi's.

import type { Libc } from "./types.ts";

export const LIBC_PATH = "libc.so.6";

export const LIBC_SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  dup2: { parameters: ["i32", "i32"], result: "i32" },
  dup: { parameters: ["i32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  recv: { parameters: ["i32", "buffer", "u64", "i32"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  setgroups: { parameters: ["u32", "buffer"], result: "i32" },
  setgid: { parameters: ["u32"], result: "i32" },
  setuid: { parameters: ["u32"], result: "i32" },
  umask: { parameters: ["u32"], result: "u32" },
  dlsym: { parameters: ["u64", "buffer"], result: "u64" },
  strdup: { parameters: ["u64"], result: "u64" },
  prctl: { parameters: ["i32", "buffer", "u64", "u64", "u64"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
  ftruncate: { parameters: ["i32", "u64"], result: "i32" },
  mmap: { parameters: ["u64", "u64", "i32", "i32", "i32", "u64"], result: "u64" },
} as const;

const POLLIN = 1;
const PROT_READ_WRITE = 3;
const MAP_SHARED = 1;

const PR_SET_NAME = 15;
/** dlsym's pseudo-handle that searches the whole process, as the dynamic linker binds names. */
const RTLD_DEFAULT = 0;
const cString = (text: string) => new TextEncoder().encode(`${text}\0`);

/** The bound symbols, as either FFI hands them out (numbers in, numbers out). */
// deno-lint-ignore no-explicit-any
type Symbols = Record<keyof typeof LIBC_SYMBOLS, (...args: any[]) => any>;

/**
 * The Libc over bound symbols; only reading errno and C strings (pointers)
 * differs between the two FFIs, so the caller supplies those.
 */
export function libcOver(
  s: Symbols,
  pointers: Pick<Libc, "errno" | "strerror" | "memory">,
): Libc {
  return {
    socket: (d, t, p) => s.socket(d, t, p),
    setsockopt: (fd, level, name, value) => s.setsockopt(fd, level, name, value, value.length),
    getsockopt: (fd, level, name, value, len) => s.getsockopt(fd, level, name, value, len),
    bind: (fd, addr) => s.bind(fd, addr, addr.length),
    connect: (fd, addr) => s.connect(fd, addr, addr.length),
    listen: (fd, backlog) => s.listen(fd, backlog),
    getsockname: (fd, addr, len) => s.getsockname(fd, addr, len),
    close: (fd) => s.close(fd),
    fcntl: (fd, command, arg) => s.fcntl(fd, command, arg),
    setgroups: (gids) => s.setgroups(gids.length, new Uint32Array(gids)),
    setgid: (gid) => s.setgid(gid),
    setuid: (uid) => s.setuid(uid),
    umask: (mask) => s.umask(mask),
    dup2: (fd, target) => s.dup2(fd, target),
    dup: (fd) => s.dup(fd),
    write: (fd, bytes) => s.write(fd, bytes, bytes.length),
    recv: (fd, buffer, flags) => s.recv(fd, buffer, buffer.length, flags),
    shutdown: (fd, how) => s.shutdown(fd, how),
    symbolAddress: (name) => Number(s.dlsym(RTLD_DEFAULT, cString(name))),
    copyString: (address) => Number(s.strdup(address)),
    setThreadName: (name) => s.prctl(PR_SET_NAME, cString(name), 0, 0, 0),
    readable: (fd) => {
      // struct pollfd: int fd; short events; short revents (little-endian: revents high).
      const pollfd = new Int32Array([fd, POLLIN]);
      return s.poll(pollfd, 1, 0) > 0 && ((pollfd[1] >>> 16) & POLLIN) !== 0;
    },
    memfd: (name, length) => {
      const fd = s.memfd_create(cString(name), 0);
      if (fd < 0) return -1;
      if (s.ftruncate(fd, length) !== 0) {
        s.close(fd);
        return -1;
      }
      return fd;
    },
    mapShared: (fd, length) => {
      const address = Number(s.mmap(0, length, PROT_READ_WRITE, MAP_SHARED, fd, 0));
      // MAP_FAILED is (void *)-1, which reads back as 2^64 - 1.
      return address <= 0 || address >= 2 ** 63 ? null : pointers.memory(address, length);
    },
    ...pointers,
  };
}

/** Wraps a loader so the library is opened on first use only, not on every call. */
export function once<T>(load: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= load());
}
