// The TLS settings turned into PEM text, read and checked by the master before anything starts
// (so a wrong path, a non-certificate or a key that belongs to another certificate is one
// start-up line, exit 1) and again at HUP; workers get the text from the master, never the files.

import type { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { isAbsolute } from "node:path";
import process from "node:process";
import type { Config } from "../config/settings.ts";
import { ConfigError } from "../errors.ts";

/** gunicorn's cert_reqs: 0 no client certificate, 1 optional (verified if sent), 2 required. */
export type CertReqs = 0 | 1 | 2;

/** PEM text of the server certificate (chain), its key and the client CA bundle. */
export interface TlsFiles {
  cert: string;
  key: string;
  /** CA bundle client certificates are verified against; empty when none is configured. */
  ca: string;
  certReqs: CertReqs;
  /** OpenSSL cipher list for TLS 1.2 and older; empty for the runtime's defaults. */
  ciphers: string;
}

export type TlsConfig = Pick<Config, "certfile" | "keyfile" | "ca_certs" | "cert_reqs" | "ciphers">;

function read(setting: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why = code === "ENOENT"
      ? "no such file"
      : code === "EACCES"
      ? "permission denied"
      : code === "EISDIR"
      ? "is a directory"
      : (error as Error).message;
    // A relative path is read from the working folder, which --chdir may have moved.
    const where = isAbsolute(path) ? "" : ` (in ${process.cwd()})`;
    throw new ConfigError(`Cannot read ${setting} "${path}"${where}: ${why}`);
  }
}

/** Whether TLS is on: a certificate or key is configured (as in gunicorn). */
export function tlsEnabled(config: TlsConfig): boolean {
  return config.certfile !== "" || config.keyfile !== "";
}

/**
 * Reads and checks the TLS files, or returns null when TLS is off. Throws ConfigError (one line)
 * when a file cannot be read or parsed, when the key does not match the certificate, or when the
 * cipher list matches nothing. `controls` is false where the runtime's TLS ignores cert_reqs and
 * ciphers (Runtime.tlsControls).
 */
export async function loadTlsFiles(
  config: TlsConfig,
  controls: boolean,
): Promise<TlsFiles | null> {
  if (!tlsEnabled(config)) return null;
  // node:crypto loads only with TLS on (a worker's memory: docs/architecture.md).
  const { createPrivateKey, X509Certificate } = await import("node:crypto");
  if (!config.certfile) throw new ConfigError("keyfile is set but certfile is not");
  const cert = read("certfile", config.certfile);
  // As ssl.load_cert_chain: without a keyfile the key is looked for in the certificate file.
  const keyPath = config.keyfile || config.certfile;
  const key = config.keyfile ? read("keyfile", keyPath) : cert;
  let x509: X509Certificate;
  try {
    if (!cert.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no certificate");
    x509 = new X509Certificate(cert);
  } catch {
    throw new ConfigError(`certfile "${config.certfile}" holds no PEM certificate`);
  }
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: *4,ENCRYPTED/.test(key)) {
    // Python's ssl would ask for the passphrase on the terminal; a server has none to ask.
    throw new ConfigError(
      `keyfile "${keyPath}" is encrypted with a passphrase, which appserve cannot use: ` +
        `decrypt it (openssl pkey -in ${keyPath} -out key.pem) and keep that file readable ` +
        "only by the user appserve starts as",
    );
  }
  let matches: boolean;
  try {
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) throw new Error("no key");
    matches = x509.checkPrivateKey(createPrivateKey(key));
  } catch {
    throw new ConfigError(`keyfile "${keyPath}" holds no usable PEM private key`);
  }
  if (!matches) {
    throw new ConfigError(
      `keyfile "${keyPath}" does not match the certificate in certfile "${config.certfile}"`,
    );
  }
  let ca = "";
  if (config.ca_certs) {
    ca = read("ca_certs", config.ca_certs);
    try {
      if (!ca.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no certificate");
      new X509Certificate(ca);
    } catch {
      throw new ConfigError(`ca_certs "${config.ca_certs}" holds no PEM certificate`);
    }
  }
  const certReqs = config.cert_reqs as CertReqs;
  if (certReqs > 0) {
    if (!ca) {
      throw new ConfigError(`cert_reqs ${certReqs} needs ca_certs to verify clients against`);
    }
    if (!controls) {
      throw new ConfigError(
        "cert_reqs: client certificates cannot be verified under Deno (its node:tls accepts any " +
          "client certificate); use the compiled appserve binary (Bun)",
      );
    }
  }
  const ciphers = config.ciphers;
  if (ciphers) await checkCiphers(ciphers, controls);
  return { cert, key, ca, certReqs, ciphers };
}

async function checkCiphers(ciphers: string, controls: boolean): Promise<void> {
  if (!controls) {
    throw new ConfigError(
      "ciphers: Deno's TLS ignores a cipher list (it keeps its own defaults); use the compiled " +
        "appserve binary (Bun), or leave ciphers unset",
    );
  }
  // A list OpenSSL matches no cipher with makes every handshake fail: refuse it now. (A Deno
  // master with Bun workers cannot tell; the worker's own context then fails at boot.)
  const { createSecureContext } = await import("node:tls");
  try {
    createSecureContext({ ciphers });
  } catch {
    throw new ConfigError(`ciphers "${ciphers}" matches no cipher OpenSSL knows`);
  }
}
