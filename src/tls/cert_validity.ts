// A certificate outside its dates loads and serves like any other, and every client then refuses
// the handshake: the master says so once at start and at each reload of the TLS files. It keeps
// serving, as nginx and gunicorn do (an expired certificate is still better than no listener for
// clients told to skip verification, and the renewal is one HUP away).

/** A certificate that expires within this many days is said at start and reload too. */
export const EXPIRY_NOTICE_DAYS = 7;

const DAY_MS = 24 * 60 * 60 * 1000;

/** "2020-01-02 00:00:00 UTC": the date as an operator compares it with `date -u`. */
function utc(date: Date): string {
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/**
 * The one-line warning for the server certificate (the first in `certPem`, which loadTlsFiles
 * has checked) read from `certfile`, or undefined while it is valid for more than
 * EXPIRY_NOTICE_DAYS from `now`.
 */
export async function certValidityWarning(
  certfile: string,
  certPem: string,
  now: Date = new Date(),
): Promise<string | undefined> {
  // Loaded only with TLS on, as in loadTlsFiles.
  const { X509Certificate } = await import("node:crypto");
  let x509;
  try {
    x509 = new X509Certificate(certPem);
  } catch {
    return undefined;
  }
  // node:crypto separates the subject's parts with newlines.
  const subject = x509.subject.split("\n").filter(Boolean).join(", ") || "(no subject)";
  const notBefore = new Date(x509.validFrom);
  const notAfter = new Date(x509.validTo);
  const what = `certfile "${certfile}" (subject ${subject})`;
  if (notAfter.getTime() < now.getTime()) {
    return `${what} expired at ${utc(notAfter)} (notAfter): clients that verify it refuse ` +
      "every handshake; renew it and reload (HUP)";
  }
  if (notBefore.getTime() > now.getTime()) {
    return `${what} is not valid before ${utc(notBefore)} (notBefore; it ends ${
      utc(notAfter)
    }): clients that verify it refuse every handshake until then; check the clock`;
  }
  const left = notAfter.getTime() - now.getTime();
  if (left < EXPIRY_NOTICE_DAYS * DAY_MS) {
    const days = Math.floor(left / DAY_MS);
    const when = days === 0 ? "in less than a day" : `in ${days} day${days === 1 ? "" : "s"}`;
    return `${what} expires ${when}, at ${utc(notAfter)} (notAfter); renew it and reload (HUP)`;
  }
  return undefined;
}
