// The boot server: what netbooting machines fetch (by MAC, then by their session's token),
// and where installers and wipe images report. Everything it serves or hears goes through the
// store, so the provider that waits for a machine may run anywhere.
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join, sep } from "node:path";
import ipaddr from "ipaddr.js";
import {
  alwaysPxeScript,
  fetchBootScript,
  reportSession,
  sessionByMac,
  sessionByToken,
} from "../store/servers-sql";
import type { Store } from "../store/store";

const MAX_BODY = 64 * 1024;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const TOKEN = /^[A-Za-z0-9_-]{16,128}$/;
const EVENT_TYPE = /^[a-z][a-z0-9.-]{0,47}$/;
// No session for this machine: boot from the next device (its disk), as if PXE had failed.
const LOCAL_BOOT = "#!ipxe\necho no provisioning session for this machine: booting from disk\nexit\n";
const INSTALLED_BOOT = "#!ipxe\necho installed: booting the new system from disk\nexit\n";

class BadRequest extends Error {}

function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new BadRequest("malformed %-escape in the path");
  }
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * An installer's message as every store can keep it: well-formed UTF-16 (PostgreSQL's JSON
 * refuses a lone surrogate), no NUL (its text refuses that), at most 2000 characters.
 */
function storable(message: string): string {
  const wellFormed = message.replace(LONE_SURROGATE, "\ufffd").replace(/\0/g, "");
  return [...wellFormed].slice(0, 2000).join("");
}

export interface BootServer {
  url: string;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: string, type = "text/plain; charset=utf-8") {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}

class TooLarge extends Error {}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        // Answered with 413; the rest is not read.
        reject(new TooLarge(`body larger than ${MAX_BODY} bytes`));
        req.pause();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/**
 * A file of the local image mirror (kernels, initrds, disk images) under /assets/, as Matchbox
 * serves its assets: a rack without the internet netboots from the host that serves its configs.
 * Only regular files below the directory; no listings, no symlinks out of it.
 */
async function sendAsset(root: string, rel: string, req: http.IncomingMessage, res: http.ServerResponse) {
  let real: string;
  let size: number;
  try {
    const parts = rel.split("/").map(decodeURIComponent);
    // Dotfiles too: a mirror's .git or .htpasswd is not an image.
    if (parts.some((p) => p === "" || p.startsWith(".") || /[/\0]/.test(p)))
      return send(res, 404, "not found\n");
    real = await fs.promises.realpath(join(root, ...parts));
    const st = await fs.promises.stat(real);
    if (!st.isFile() || !real.startsWith(root + sep)) return send(res, 404, "not found\n");
    size = st.size;
  } catch {
    return send(res, 404, "not found\n");
  }
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size });
  if (req.method === "HEAD") return res.end();
  fs.createReadStream(real)
    .on("error", () => res.destroy())
    .pipe(res);
}

function assetsDir(dir: string): string {
  try {
    if (fs.statSync(dir).isDirectory()) return fs.realpathSync(dir);
  } catch {
    // said below
  }
  throw new Error(`assets: ${dir} is not a directory (the image mirror to serve under /assets/)`);
}

/** The provisioning network's ranges, checked once at start (`--allow`). */
export function clientRanges(cidrs: string[], field = "allow"): [ipaddr.IPv4 | ipaddr.IPv6, number][] {
  return cidrs.map((c) => {
    let range: [ipaddr.IPv4 | ipaddr.IPv6, number];
    try {
      range = ipaddr.parseCIDR(c);
    } catch {
      throw new Error(
        `${field}: expected a CIDR of the provisioning network, e.g. 10.0.0.0/24 or fd00:10::/64, not ${c}`,
      );
    }
    // 10.0.0.1/24 is most likely a host's address typed for its network: say which was meant.
    const network =
      range[0].kind() === "ipv4"
        ? ipaddr.IPv4.networkAddressFromCIDR(c)
        : ipaddr.IPv6.networkAddressFromCIDR(c);
    if (network.toString() !== range[0].toString()) {
      throw new Error(`${field}: ${c} has host bits set; the network is ${network.toString()}/${range[1]}`);
    }
    return range;
  });
}

/** The client's address as written everywhere else: an IPv4 client of a dual-stack socket as IPv4. */
function clientOf(req: http.IncomingMessage): string {
  const raw = req.socket.remoteAddress ?? "";
  return ipaddr.isValid(raw) ? ipaddr.process(raw).toString() : raw;
}

/** The answer to a client outside --allow that asks for an install's or wipe's script or config. */
const OUTSIDE = "boot scripts and configs are served on the provisioning network only\n";

export interface BootServerOptions {
  host?: string;
  port?: number;
  publicUrl?: string;
  assets?: string;
  /**
   * The provisioning network (CIDRs): only clients there get the boot scripts of installs and
   * wipes and their configs, which carry root password hashes, SSH keys and userData. Elsewhere
   * (an installed server netbooting on its layer-3 network) a machine gets only what it gets with
   * no install or wipe under way: its alwaysPxe script, or "boot from disk". Reports
   * (phone-home, events) are taken from anywhere, with their session's token, since an
   * installed system sends them from its own addresses. Unset, any client is served (the lab,
   * on loopback).
   */
  allow?: string[];
}

export async function startBootServer(store: Store, opts: BootServerOptions = {}): Promise<BootServer> {
  const assets = opts.assets === undefined ? undefined : assetsDir(opts.assets);
  const ranges = clientRanges(opts.allow ?? []);
  const provisioning = (client: string) => {
    if (ranges.length === 0) return true;
    if (!ipaddr.isValid(client)) return false;
    const a = ipaddr.parse(client);
    return ranges.some(([net, bits]) => a.kind() === net.kind() && a.match(net, bits));
  };
  const report = (token: string, type: string, message: string | null) =>
    store.transact((at) => reportSession(token, type, message, at));
  const refusedStatus = { unknown: 404, finished: 410, "wrong-kind": 409, "too-many": 429 } as const;

  /**
   * A machine's iPXE script, by MAC; undefined when the session it found ended before its
   * script went out (a retry or a delete closed it meanwhile): asked again, the next lookup
   * finds the current one.
   */
  const bootScript = async (
    mac: string,
    client: string,
    inside: boolean,
  ): Promise<{ status: number; body: string } | undefined> => {
    const session = await store.transact(() => sessionByMac(mac), "read");
    if (!session) {
      const always = await store.transact(() => alwaysPxeScript(mac), "read");
      return { status: 200, body: always ?? LOCAL_BOOT };
    }
    // The OS is on the disk and the installer rebooted into it: a machine whose boot order
    // puts the network first (alwaysPxe, or its own firmware) must not install again. Its
    // ports may be on its own network by now (lifecycle.ts moves them at install.written).
    if (session.kind === "install" && session.writtenAt) return { status: 200, body: INSTALLED_BOOT };
    // Installs and wipes netboot on the provisioning network: a session's script (its token,
    // and with it the configs) is never handed elsewhere. An installed server netbooting on
    // its own network (alwaysPxe, or firmware that puts the network first) is told what it
    // is told anywhere: its own alwaysPxe script, or to boot its disk.
    if (!inside) return { status: 403, body: OUTSIDE };
    const fetched = await store.transact((at) => fetchBootScript(session.token, mac, client, at));
    if ("ended" in fetched) return undefined;
    if ("refused" in fetched) return { status: 403, body: `${fetched.refused}\n` };
    return { status: 200, body: fetched.script };
  };

  // Known once the server listens (the port may be chosen by the system).
  let url = "";
  const publicUrl = () => url;
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://boot").pathname;
    let m: RegExpExecArray | null;
    const read = req.method === "GET" || req.method === "HEAD";
    if (read && path === "/healthz") return send(res, 200, "ok\n");
    if (assets && read && path.startsWith("/assets/"))
      return sendAsset(assets, path.slice("/assets/".length), req, res);
    const client = clientOf(req);
    const inside = provisioning(client);
    if (path.startsWith("/config/") && !inside) return send(res, 403, OUTSIDE);
    // The one URL DHCP hands every iPXE client: it chains to the machine's own script by MAC.
    if (read && path === "/boot.ipxe")
      return send(res, 200, `#!ipxe\nchain ${publicUrl()}/boot/\${net0/mac}.ipxe\n`);

    if (req.method === "GET" && (m = /^\/boot\/([^/]+)\.ipxe$/.exec(path))) {
      const mac = decoded(m[1]!).toLowerCase().replace(/-/g, ":");
      if (!MAC.test(mac)) return send(res, 400, "not a MAC address\n");
      const answer = (await bootScript(mac, client, inside)) ?? (await bootScript(mac, client, inside));
      return answer ? send(res, answer.status, answer.body) : send(res, 503, "try again\n");
    }

    if (
      req.method === "GET" &&
      (m =
        /^\/config\/([^/]+)\/((?:installer-)?ignition\.json|cloud-init\/(user-data|meta-data|network-config|vendor-data))$/.exec(
          path,
        ))
    ) {
      const token = m[1]!;
      if (!TOKEN.test(token)) return send(res, 404, "unknown session\n");
      const session = await store.transact(() => sessionByToken(token), "read");
      if (!session || session.state === "done" || session.state === "failed")
        return send(res, 404, "unknown session\n");
      const staged = session.staged;
      let body: string | undefined;
      if (m[2] === "ignition.json") body = staged.ignition;
      else if (m[2] === "installer-ignition.json") body = staged.installerIgnition;
      else if (m[3] === "user-data") body = staged.cloudInit?.userData;
      else if (m[3] === "meta-data") body = staged.cloudInit?.metaData;
      else if (m[3] === "network-config") body = staged.cloudInit?.networkConfig;
      else if (m[3] === "vendor-data") body = staged.cloudInit ? "" : undefined;
      if (body === undefined) return send(res, 404, "no such config for this session\n");
      await report(token, "config.fetched", m[2]!);
      return send(res, 200, body, m[2]!.endsWith(".json") ? "application/json" : "text/plain; charset=utf-8");
    }

    if (req.method === "POST" && (m = /^\/(phone-home|events)\/([^/]+)$/.exec(path))) {
      const token = m[2]!;
      if (!TOKEN.test(token)) return send(res, 404, "unknown session\n");
      const body = await readBody(req);
      let type = "phone-home";
      let message: string | null = null;
      if (m[1] === "events") {
        let event: { type?: unknown; message?: unknown } | null;
        try {
          event = JSON.parse(body) as typeof event;
        } catch {
          event = null;
        }
        if (typeof event !== "object" || event === null || Array.isArray(event))
          return send(res, 400, 'expected JSON {"type": "...", "message": "..."}\n');
        if (typeof event.type !== "string" || !EVENT_TYPE.test(event.type)) {
          return send(res, 400, "type: lowercase words joined by . or -, at most 48 characters\n");
        }
        type = event.type;
        message = typeof event.message === "string" ? storable(event.message) : null;
      }
      const refused = await report(token, type, message);
      if (refused) return send(res, refusedStatus[refused.refused], `${refused.reason}\n`);
      return send(res, 200, "ok\n");
    }
    return send(res, 404, "not found\n");
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return res.destroy();
      if (e instanceof TooLarge) {
        res.setHeader("connection", "close");
        return send(res, 413, `${e.message}\n`);
      }
      if (e instanceof BadRequest) return send(res, 400, `${e.message}\n`);
      // The store's own words stay in the operator's log, not in an answer to anyone who asks.
      console.error(`boot server: ${req.method} ${req.url}: ${(e as Error).message}`);
      send(res, 500, "internal error\n");
    });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  // A connection that never sends a request is closed too, or idle ones would use up the
  // process's file descriptors.
  server.timeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;
  url = (opts.publicUrl ?? `http://${host}:${port}`).replace(/\/+$/, "");
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
