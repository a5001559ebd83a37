// One HTTP(S) request on Node's own client: the BMC drivers' and the lab machines' transport.
// A Redfish call is a few small JSON documents; a general client (axios) cost twice the CPU of
// the request itself per call, and each server makes several. Bounded in size, abortable, and
// never followed anywhere: the caller sees redirects, as it must not send a credential on.
import http from "node:http";
import https from "node:https";

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string | number>;
  body?: string;
  /** The connection pool; false for a connection of its own, closed after the answer. */
  agent: http.Agent | false;
  /** Ends the request; it rejects with the signal's reason. */
  signal: AbortSignal;
  /** A longer answer is refused (default 4 MiB). */
  maxBytes?: number;
  /** https only: false accepts any certificate (the lab's machines, as iPXE would be set up). */
  rejectUnauthorized?: boolean;
  /** The local address to send from (the lab's machines: the network their port is on). */
  localAddress?: string;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;
const SENT = Symbol("sent");

/**
 * Whether a failed request had reached the server: written whole before the failure (a
 * timeout, a reset), so the server may have acted on it. False for one that never left (a
 * connect that failed or timed out) and for one on a kept-alive socket the server had closed.
 */
export const requestSent = (e: unknown): boolean =>
  typeof e === "object" && e !== null && (e as { [SENT]?: boolean })[SENT] === true;

export function httpRequest(r: HttpRequest): Promise<HttpResponse> {
  const secure = r.url.protocol === "https:";
  if (!secure && r.url.protocol !== "http:") {
    return Promise.reject(new Error(`${r.url.href}: only http and https are requested`));
  }
  if (r.signal.aborted) return Promise.reject(r.signal.reason);
  const maxBytes = r.maxBytes ?? DEFAULT_MAX_BYTES;
  const headers = { ...r.headers };
  if (r.body !== undefined) headers["Content-Length"] = Buffer.byteLength(r.body);
  return new Promise((resolve, reject) => {
    const options: https.RequestOptions = { method: r.method, headers, agent: r.agent };
    if (r.localAddress !== undefined) options.localAddress = r.localAddress;
    if (secure && r.rejectUnauthorized === false) options.rejectUnauthorized = false;
    const req = (secure ? https : http).request(r.url, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) req.destroy(new Error(`${r.url.href}: answer larger than ${maxBytes} bytes`));
        else chunks.push(c);
      });
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      res.on("error", failed);
    });
    // Whether the server may have the request: written whole, and not on a kept-alive socket
    // the server had closed before it arrived (Node's own case for a safe retry).
    let written = false;
    req.on("finish", () => (written = true));
    const failed = (e: Error) => {
      const code = (e as NodeJS.ErrnoException).code;
      const stale = req.reusedSocket && (code === "ECONNRESET" || code === "EPIPE");
      reject(Object.assign(e, { [SENT]: written && !stale }));
    };
    const abort = () => req.destroy(r.signal.reason);
    r.signal.addEventListener("abort", abort, { once: true });
    req.on("error", failed);
    req.on("close", () => r.signal.removeEventListener("abort", abort));
    req.end(r.body);
  });
}
