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
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
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
  sigprocmask: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  sigtimedwait: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  execv: { parameters: ["buffer", "buffer"], result: "i32" },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
} as const;

const POLLIN = 1;
const WNOHANG = 1;
const PROT_READ_WRITE = 3;
const MFD_CLOEXEC = 1;
/** fcntl(2)'s command and flag that mark an fd close-on-exec. */
export const F_SETFD = 2;
export const FD_CLOEXEC = 1;
const MAP_SHARED = 1;

const PR_SET_NAME = 15;
const SIG_BLOCK = 0;
const SIG_SETMASK = 2;
// The kernel's sigset_t is 64 bits; glibc's is 1024, which the calls read and write whole.
const SIGSET_BYTES = 128;
const SIGINFO_BYTES = 128;

function sigset(signo: number): Uint8Array {
  const set = new Uint8Array(SIGSET_BYTES);
  set[(signo - 1) >> 3] = 1 << ((signo - 1) & 7);
  return set;
}
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
  pointers: Pick<Libc, "errno" | "strerror" | "memory"> & {
    /** The address of `bytes`, which must stay alive while it is used. */
    addressOf(bytes: Uint8Array): bigint;
  },
): Libc {
  return {
    socket: (d, t, p) => s.socket(d, t, p),
    setsockopt: (fd, level, name, value) => s.setsockopt(fd, level, name, value, value.length),
    getsockopt: (fd, level, name, value, len) => s.getsockopt(fd, level, name, value, len),
    bind: (fd, addr) => s.bind(fd, addr, addr.length),
    connect: (fd, addr) => s.connect(fd, addr, addr.length),
    listen: (fd, backlog) => s.listen(fd, backlog),
    getsockname: (fd, addr, len) => s.getsockname(fd, addr, len),
    getpeername: (fd, addr, len) => s.getpeername(fd, addr, len),
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
      const fd = s.memfd_create(cString(name), MFD_CLOEXEC);
      if (fd < 0) return -1;
      if (s.ftruncate(fd, length) !== 0) {
        s.close(fd);
        return -1;
      }
      return fd;
    },
    blockSignal: (signo) => {
      const set = sigset(signo);
      const old = new Uint8Array(SIGSET_BYTES);
      if (s.sigprocmask(SIG_BLOCK, set, old) !== 0) return () => {};
      return () => void s.sigprocmask(SIG_SETMASK, old, new Uint8Array(SIGSET_BYTES));
    },
    takeSignal: (signo) =>
      s.sigtimedwait(sigset(signo), new Uint8Array(SIGINFO_BYTES), new Uint8Array(16)) === signo,
    execv: (path, argv) => {
      const strings = argv.map(cString);
      const table = new BigUint64Array(strings.length + 1);
      strings.forEach((bytes, i) => table[i] = pointers.addressOf(bytes));
      return s.execv(cString(path), new Uint8Array(table.buffer));
    },
    reap: (pid) => s.waitpid(pid, new Int32Array(1), WNOHANG) === pid,
    mapShared: (fd, length) => {
      const address = Number(s.mmap(0, length, PROT_READ_WRITE, MAP_SHARED, fd, 0));
      // MAP_FAILED is (void *)-1, which reads back as 2^64 - 1.
      return address <= 0 || address >= 2 ** 63 ? null : pointers.memory(address, length);
    },
    errno: pointers.errno,
    strerror: pointers.strerror,
    memory: pointers.memory,
    addressOf: (bytes) => Number(pointers.addressOf(bytes)),
  };
}

/** Wraps a loader so the library is opened on first use only, not on every call. */
export function once<T>(load: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= load());
}
