// Certificates made with Debian's openssl at test time: a CA, a server certificate for
// 127.0.0.1/localhost signed by it, a client certificate signed by it, and strangers (a
// self-signed client and an unrelated key). Plus curl, the HTTPS client the TLS tests use.

import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TestPki {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
  rogueCert: string;
  rogueKey: string;
  /** A valid key that belongs to no certificate here. */
  otherKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** makePki() into the new folder `dir`. */
export function newPki(dir: string): TestPki {
  mkdirSync(dir);
  return makePki(dir);
}

/** The certificate and key a server is started on (`live.pem`, `live.key` in `dir`). */
export class LivePair {
  readonly cert: string;
  readonly key: string;

  constructor(dir: string, pki: Pick<TestPki, "cert" | "key">) {
    this.cert = join(dir, "live.pem");
    this.key = join(dir, "live.key");
    this.install(pki);
  }

  /** Puts `pki`'s certificate and key in their place, as a renewal replaces them on disk. */
  install(pki: Pick<TestPki, "cert" | "key">): void {
    copyFileSync(pki.cert, this.cert);
    copyFileSync(pki.key, this.key);
  }

  /** `--certfile` and `--keyfile` for them. */
  get args(): string[] {
    return ["--certfile", this.cert, "--keyfile", this.key];
  }
}

/** openssl's date format for -startdate and -enddate: YYYYMMDDHHMMSSZ. */
function opensslDate(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, "").replace(/\.\d+Z$/, "Z");
}

/**
 * A self-signed certificate for /CN=`name` valid from `notBefore` to `notAfter` (past or
 * future: `openssl req` cannot date one), with its key, made in the new folder `dir`.
 */
export function datedPair(
  dir: string,
  name: string,
  notBefore: Date,
  notAfter: Date,
): { cert: string; key: string } {
  mkdirSync(join(dir, "db"), { recursive: true });
  const p = (file: string) => join(dir, file);
  writeFileSync(p("db/index.txt"), "");
  writeFileSync(p("db/serial"), "01\n");
  writeFileSync(
    p("ca.cnf"),
    "[ca]\ndefault_ca = d\n[d]\ndatabase = db/index.txt\nnew_certs_dir = db\n" +
      "serial = db/serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n" +
      "[p]\ncommonName = supplied\n",
  );
  openssl(dir, [
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    p("key.pem"),
    "-subj",
    `/CN=${name}`,
    "-out",
    p("cert.csr"),
  ]);
  openssl(dir, [
    "ca",
    "-batch",
    "-config",
    p("ca.cnf"),
    "-selfsign",
    "-keyfile",
    p("key.pem"),
    "-in",
    p("cert.csr"),
    "-startdate",
    opensslDate(notBefore),
    "-enddate",
    opensslDate(notAfter),
    "-notext",
    "-out",
    p("cert.pem"),
  ]);
  return { cert: p("cert.pem"), key: p("key.pem") };
}

/** Generates the certificates into `dir` (about a second of RSA key generation). */
export function makePki(dir: string): TestPki {
  const p = (name: string) => join(dir, name);
  const key = (name: string) =>
    openssl(dir, [
      "genpkey",
      "-algorithm",
      "EC",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-out",
      p(name),
    ]);
  for (const k of ["ca.key", "server.key", "client.key", "rogue.key", "other.key"]) key(k);
  openssl(dir, [
    "req",
    "-x509",
    "-new",
    "-key",
    p("ca.key"),
    "-subj",
    "/CN=appserve test CA",
    "-days",
    "30",
    "-out",
    p("ca.pem"),
  ]);
  // A certificate for `name`.key signed by the test CA.
  const issue = (name: string, subject: string, extensions?: string) => {
    openssl(dir, [
      "req",
      "-new",
      "-key",
      p(`${name}.key`),
      "-subj",
      subject,
      "-out",
      p(`${name}.csr`),
    ]);
    const ext: string[] = [];
    if (extensions) {
      writeFileSync(p(`${name}.ext`), `${extensions}\n`);
      ext.push("-extfile", p(`${name}.ext`));
    }
    openssl(dir, [
      "x509",
      "-req",
      "-in",
      p(`${name}.csr`),
      "-CA",
      p("ca.pem"),
      "-CAkey",
      p("ca.key"),
      "-CAcreateserial",
      "-days",
      "30",
      ...ext,
      "-out",
      p(`${name}.pem`),
    ]);
  };
  issue("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost");
  issue("client", "/CN=test client");
  openssl(dir, [
    "req",
    "-x509",
    "-new",
    "-key",
    p("rogue.key"),
    "-subj",
    "/CN=rogue",
    "-days",
    "30",
    "-out",
    p("rogue.pem"),
  ]);
  return {
    dir,
    ca: p("ca.pem"),
    cert: p("server.pem"),
    key: p("server.key"),
    clientCert: p("client.pem"),
    clientKey: p("client.key"),
    rogueCert: p("rogue.pem"),
    rogueKey: p("rogue.key"),
    otherKey: p("other.key"),
  };
}

export interface CurlResult {
  /** curl's exit code: 0 when every transfer worked. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs curl with `args` (it verifies the server against `--cacert`); never throws. */
export function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve) => {
    const child = spawn("curl", ["-sS", "--max-time", "10", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
