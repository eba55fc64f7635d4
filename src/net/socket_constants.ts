// Linux's numbers for the socket calls appserve makes through libc (the same on x86-64 and
// arm64), in one place so that every caller spells them alike. src/net sits below src/log and
// src/master in the import order, so syslog and sd_notify take them from here too. fcntl's numbers
// are here for the socket fds; errno's are the ones those calls' callers tell apart.

// Address families (sys/socket.h).
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;

// Socket types, and the flags socket(2) takes with them.
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;

// Socket options (asm-generic/socket.h).
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_REUSEPORT = 15;
export const SO_ACCEPTCONN = 30;

// TCP (netinet/tcp.h); TCP_LISTEN is the state, as tcp_info and sock_diag give it.
export const IPPROTO_TCP = 6;
export const TCP_NODELAY = 1;
export const TCP_INFO = 11;
export const TCP_LISTEN = 10;

// IPv6 (netinet/in.h): a socket without IPV6_V6ONLY on [::] takes IPv4 too.
export const IPPROTO_IPV6 = 41;
export const IPV6_V6ONLY = 26;

// fcntl(2).
export const F_DUPFD = 0;
export const F_SETFD = 2;
export const FD_CLOEXEC = 1;
export const F_DUPFD_CLOEXEC = 1030;

// errno (asm-generic/errno.h).
export const ENOENT = 2;
export const EAGAIN = 11;
export const EACCES = 13;
export const EMSGSIZE = 90;
export const EPROTOTYPE = 91;
export const EADDRINUSE = 98;
export const ECONNREFUSED = 111;
