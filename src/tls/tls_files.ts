// The TLS settings turned into PEM text, read and checked by the master before anything starts
// (so a wrong path, a non-certificate or a key that belongs to another certificate is one
// start-up line, exit 1) and again at HUP; workers get the text from the master, never the files.

import type { createPrivateKey as CreatePrivateKey, X509Certificate } from "node:crypto";
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

/** What to do where the workers' runtime (Deno) cannot honour cert_reqs or ciphers. */
const USE_BUN = "use the compiled appserve binary (Bun)";

/**
 * The one-line refusal of cert_reqs or ciphers under Deno workers, or undefined when neither is
 * asked for. `instead` says how to get Bun workers: from the binary itself, "--runtime bun".
 */
export function denoTlsRefusal(config: TlsConfig, instead = USE_BUN): string | undefined {
  if (!tlsEnabled(config)) return undefined;
  // Without ca_certs cert_reqs is refused for that first (loadTlsFiles).
  if (config.cert_reqs > 0 && config.ca_certs) {
    return "cert_reqs: client certificates cannot be verified under Deno (its node:tls accepts " +
      `any client certificate); ${instead}`;
  }
  if (config.ciphers) {
    return "ciphers: Deno's TLS ignores a cipher list (it keeps its own defaults); " +
      `${instead}, or leave ciphers unset`;
  }
  return undefined;
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
    // A chain with an intermediate first: OpenSSL serves the first certificate as the server's.
    const place = laterMatch(cert, key, X509Certificate, createPrivateKey);
    if (place !== undefined) {
      throw new ConfigError(
        `certfile "${config.certfile}" is in the wrong order: keyfile "${keyPath}" matches its ` +
          `certificate ${place}, not the first; the server certificate must come first, then ` +
          "its intermediates",
      );
    }
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
    if (!controls) throw new ConfigError(denoTlsRefusal(config)!);
  }
  const ciphers = config.ciphers;
  if (ciphers) await checkCiphers(config, controls);
  return { cert, key, ca, certReqs, ciphers };
}

/** Which later certificate of the chain `cert` (1-based) matches `key`, if any does. */
function laterMatch(
  cert: string,
  key: string,
  X509: typeof X509Certificate,
  privateKey: typeof CreatePrivateKey,
): number | undefined {
  const blocks = cert.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  const parsed = privateKey(key);
  for (let i = 1; i < blocks.length; i++) {
    try {
      if (new X509(blocks[i]).checkPrivateKey(parsed)) return i + 1;
    } catch {
      // A broken block further down is not what this looks for.
    }
  }
  return undefined;
}

async function checkCiphers(config: TlsConfig, controls: boolean): Promise<void> {
  if (!controls) throw new ConfigError(denoTlsRefusal(config)!);
  const ciphers = config.ciphers;
  // A list OpenSSL matches no cipher with makes every handshake fail: refuse it now. (A Deno
  // master with Bun workers cannot tell; the worker's own context then fails at boot.)
  const { createSecureContext } = await import("node:tls");
  try {
    createSecureContext({ ciphers });
  } catch {
    throw new ConfigError(`ciphers "${ciphers}" matches no cipher OpenSSL knows`);
  }
}
