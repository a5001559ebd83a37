// The simulated machines' HTTP: one request, bounded in time and size, abortable when the
// machine loses power. node:http with no keep-alive agent, so a stopped lab leaves no sockets
// behind (a pooled client would keep idle connections to the boot server open).
import http from "node:http";
import https from "node:https";

export interface HttpResult {
  status: number;
  text: string;
}

export interface HttpOptions {
  method?: "GET" | "POST";
  /** Sent as JSON. */
  json?: unknown;
  timeoutMs: number;
  maxBytes?: number;
  signal?: AbortSignal;
}

export function httpRequest(url: string, opts: HttpOptions): Promise<HttpResult> {
  const target = new URL(url);
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    return Promise.reject(new Error(`${url}: only http and https are fetched`));
  }
  const body = opts.json === undefined ? undefined : JSON.stringify(opts.json);
  const maxBytes = opts.maxBytes ?? 1024 * 1024;
  const lib = target.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new Error("aborted"));
    const req = lib.request(
      target,
      {
        method: opts.method ?? "GET",
        agent: false,
        // A lab boot server over https has a certificate of its own making, as iPXE's trust
        // would be configured for; the lab does not check it.
        ...(target.protocol === "https:" ? { rejectUnauthorized: false } : {}),
        headers: {
          "User-Agent": "baremetal-lab-machine",
          ...(body === undefined
            ? {}
            : { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) req.destroy(new Error(`${url}: response larger than ${maxBytes} bytes`));
          else chunks.push(c);
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    const timer = setTimeout(
      () => req.destroy(new Error(`${url}: no answer within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    const abort = () => req.destroy(new Error("aborted"));
    opts.signal?.addEventListener("abort", abort, { once: true });
    req.on("error", reject);
    req.on("close", () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", abort);
    });
    req.end(body);
  });
}
