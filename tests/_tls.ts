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

/** Puts `pki`'s certificate and key at `cert` and `key`, as a renewal replaces them on disk. */
export function installPair(pki: Pick<TestPki, "cert" | "key">, cert: string, key: string): void {
  copyFileSync(pki.cert, cert);
  copyFileSync(pki.key, key);
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
    "2",
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
      "2",
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
    "2",
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
