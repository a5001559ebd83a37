// The simulated machines' HTTP: one request, bounded in time and size, abortable when the
// machine loses power. No keep-alive agent, so a stopped lab leaves no sockets behind (a
// pooled client would keep idle connections to the boot server open).
import { httpRequest as request } from "../hardware/http";

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
  /** The address to send from; default, the system's choice. */
  localAddress?: string;
}

export async function httpRequest(url: string, opts: HttpOptions): Promise<HttpResult> {
  if (opts.signal?.aborted) throw new Error("aborted");
  const body = opts.json === undefined ? undefined : JSON.stringify(opts.json);
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new Error(`${url}: no answer within ${opts.timeoutMs} ms`)),
    opts.timeoutMs,
  );
  const abort = () => controller.abort(new Error("aborted"));
  opts.signal?.addEventListener("abort", abort, { once: true });
  try {
    const res = await request({
      method: opts.method ?? "GET",
      url: new URL(url),
      agent: false,
      // A lab boot server over https has a certificate of its own making, as iPXE's trust
      // would be configured for; the lab does not check it.
      rejectUnauthorized: false,
      headers: {
        "User-Agent": "baremetal-lab-machine",
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body,
      signal: controller.signal,
      maxBytes: opts.maxBytes ?? 1024 * 1024,
      localAddress: opts.localAddress,
    });
    return { status: res.status, text: res.text };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", abort);
  }
}
