// A Redfish service for the built-in lab: HTTPS on 127.0.0.1 with a self-signed certificate,
// session and basic auth, and the ComputerSystem resources our driver (hardware/bmc/redfish.ts)
// uses. One service can host many systems, as a BMC aggregator or a chassis manager does, so
// 500 machines cost one listening socket; the lab can also run one service per machine.
//
// It answers like a real BMC where our driver could tell the difference: 201 + X-Auth-Token +
// Location for a session, 401 on bad credentials, ETags on systems and 412 on a stale If-Match,
// 204 for an accepted Reset whose effect lands later (PowerState reads PoweringOn meanwhile).
import crypto from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import {
  BOOT_ENABLED,
  BOOT_MODES,
  BOOT_TARGETS,
  RESET_TYPES,
  SimSystem,
  type BootEnabled,
  type BootMode,
  type BootTarget,
  type ResetType,
} from "./redfish-system";
import { makeCertificate, type LabCertificate } from "./tls-cert";

export { SimSystem, type SystemFaults } from "./redfish-system";

export interface RedfishSimOptions {
  username?: string;
  /** Generated when absent. */
  password?: string;
  /** Default power delay of systems added later (ms from an accepted Reset to the new state). */
  powerDelayMs?: number;
  /** Certificate to serve; generated when absent (share one between per-machine services). */
  certificate?: LabCertificate;
  /** Sessions kept at most; the oldest is dropped first, and its client logs in again on 401. */
  maxSessions?: number;
}

const ROOT = "/redfish/v1";
const SESSIONS = `${ROOT}/SessionService/Sessions`;
const MAX_BODY = 64 * 1024;
const SYSTEM = /^\/redfish\/v1\/Systems\/([^/]+)$/;
const RESET = /^\/redfish\/v1\/Systems\/([^/]+)\/Actions\/ComputerSystem\.Reset$/;
const SESSION = /^\/redfish\/v1\/SessionService\/Sessions\/([^/]+)$/;

interface Session {
  id: string;
  token: string;
  username: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
    /** The error's MessageId, where it is a vendor's own. */
    readonly messageId?: string,
  ) {
    super(message);
  }
}

export class RedfishSim {
  readonly username: string;
  readonly password: string;
  /** Service-wide: every request is dropped unanswered (a BMC that is down or cut off). */
  unreachable = false;
  /** Counters for tests: how clients connected and authenticated. */
  readonly stats = {
    connections: 0,
    sessionsCreated: 0,
    sessionsDeleted: 0,
    basicAuthRequests: 0,
    tokenRequests: 0,
  };
  private readonly systemsById = new Map<string, SimSystem>();
  private readonly sessions = new Map<string, Session>(); // by token, oldest first
  /** Logins are refused as past the session limit (503, RAC0218), as iDRAC does. */
  sessionsFull = false;
  private readonly maxSessions: number;
  private powerDelayMs: number;
  private server?: https.Server;
  private origin = "";

  private constructor(
    opts: RedfishSimOptions,
    readonly certificate: LabCertificate,
  ) {
    this.username = opts.username ?? "admin";
    this.password = opts.password ?? crypto.randomBytes(12).toString("base64url");
    this.powerDelayMs = opts.powerDelayMs ?? 0;
    this.maxSessions = opts.maxSessions ?? 1024;
  }

  static async start(opts: RedfishSimOptions = {}): Promise<RedfishSim> {
    const sim = new RedfishSim(opts, opts.certificate ?? (await makeCertificate()));
    await sim.listen();
    return sim;
  }

  /** https://127.0.0.1:<port> */
  get url(): string {
    return this.origin;
  }

  get fingerprint256(): string {
    return this.certificate.fingerprint256;
  }

  /** The certificate as PEM: self-signed, so it also works as the client's CA bundle. */
  get caCert(): string {
    return this.certificate.cert;
  }

  addSystem(id: string, serial = id): SimSystem {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id))
      throw new Error(`system id ${JSON.stringify(id)}: use [A-Za-z0-9._-]`);
    if (this.systemsById.has(id)) throw new Error(`system ${id} exists already`);
    const system = new SimSystem(id, serial, this.powerDelayMs);
    this.systemsById.set(id, system);
    return system;
  }

  system(id: string): SimSystem | undefined {
    return this.systemsById.get(id);
  }

  systems(): SimSystem[] {
    return [...this.systemsById.values()];
  }

  /** Sets the power delay of every system (and of those added later). */
  setPowerDelay(ms: number): void {
    this.powerDelayMs = ms;
    for (const s of this.systemsById.values()) s.powerDelayMs = ms;
  }

  /** Open sessions (a driver's close() deletes its own). */
  sessionCount(): number {
    return this.sessions.size;
  }

  async stop(): Promise<void> {
    for (const s of this.systemsById.values()) s.stop();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private listen(): Promise<void> {
    const server = https.createServer(
      { key: this.certificate.key, cert: this.certificate.cert, keepAlive: true },
      (req, res) => this.handle(req, res),
    );
    // A client that vanishes mid-request is its problem, not the lab's.
    server.on("clientError", (_err, socket) => socket.destroy());
    server.on("secureConnection", () => this.stats.connections++);
    server.keepAliveTimeout = 30_000;
    server.requestTimeout = 30_000;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        server.removeListener("error", reject);
        this.origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
        resolve();
      });
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0]!.replace(/\/+$/, "") || "/";
    const systemId = (SYSTEM.exec(path) ?? RESET.exec(path))?.[1];
    const system = systemId === undefined ? undefined : this.systemsById.get(decodeURIComponent(systemId));
    if (this.unreachable || system?.faults.unreachable) {
      // No answer at all: the client sees its connection reset, as with a BMC that is gone.
      req.socket.destroy();
      return;
    }
    this.body(req)
      .then((body) => this.route(req.method ?? "GET", path, req, body, system, systemId))
      .then((r) => {
        // Carried out, and never answered: the client's deadline ends the request.
        if (system?.faults.lostResetAnswers && RESET.test(path) && r.status < 300) {
          system.faults.lostResetAnswers--;
          return;
        }
        send(res, r.status, r.body, r.headers);
      })
      .catch((e: unknown) => {
        if (e instanceof HttpError)
          return send(res, e.status, redfishError(e.status, e.message, e.messageId), e.headers);
        send(res, 500, redfishError(500, (e as Error).message));
      });
  }

  private body(req: IncomingMessage): Promise<unknown> {
    if (req.method !== "POST" && req.method !== "PATCH") {
      req.resume();
      return Promise.resolve(undefined);
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) {
          reject(new HttpError(413, "request body too large"));
          req.destroy();
        } else chunks.push(c);
      });
      req.on("error", reject);
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        if (!text.trim()) return resolve({});
        try {
          resolve(JSON.parse(text));
        } catch {
          reject(new HttpError(400, "the request body is not JSON"));
        }
      });
    });
  }

  private async route(
    method: string,
    path: string,
    req: IncomingMessage,
    body: unknown,
    system: SimSystem | undefined,
    systemId: string | undefined,
  ): Promise<Reply> {
    // The service root is readable without credentials, as the spec requires: clients find
    // the sessions collection there before they log in.
    if (path === "/redfish") return only(method, ["GET"], () => ok({ v1: `${ROOT}/` }));
    if (path === ROOT) return only(method, ["GET"], () => ok(this.serviceRoot()));
    if (path === SESSIONS && method === "POST") {
      // As iDRAC past its session limit: no new session until old ones time out.
      if (this.sessionsFull) {
        throw new HttpError(503, "The maximum number of user sessions is reached.", {}, "IDRAC.2.8.RAC0218");
      }
      return this.login(body);
    }

    this.authenticate(req);
    if (systemId !== undefined) {
      if (!system) throw new HttpError(404, `no system ${systemId}`);
      if (system.faults.authFails) throw unauthorized();
      if (system.faults.busy) throw new HttpError(503, "the service is busy", { "Retry-After": "1" });
    }
    if (path === `${ROOT}/SessionService`) return only(method, ["GET"], () => ok(this.sessionService()));
    if (path === SESSIONS) return only(method, ["GET", "POST"], () => ok(this.sessionCollection()));
    const sessionMatch = SESSION.exec(path);
    if (sessionMatch) return this.sessionRequest(method, sessionMatch[1]!);
    if (path === `${ROOT}/Systems`) return only(method, ["GET"], () => ok(this.systemCollection()));
    if (system && SYSTEM.test(path)) {
      return only(method, ["GET", "PATCH"], () =>
        method === "GET"
          ? ok(systemResource(system), { ETag: system.etag })
          : this.patchSystem(system, req, body),
      );
    }
    if (system && RESET.test(path)) return only(method, ["POST"], () => this.reset(system, body));
    throw new HttpError(404, `no resource at ${path}`);
  }

  private serviceRoot() {
    return {
      "@odata.type": "#ServiceRoot.v1_11_0.ServiceRoot",
      "@odata.id": `${ROOT}/`,
      Id: "RootService",
      Name: "Baremetal lab Redfish service",
      RedfishVersion: "1.15.0",
      UUID: "00000000-0000-4000-8000-0000000000ba",
      Systems: { "@odata.id": `${ROOT}/Systems` },
      SessionService: { "@odata.id": `${ROOT}/SessionService` },
      Links: { Sessions: { "@odata.id": SESSIONS } },
    };
  }

  private sessionService() {
    return {
      "@odata.type": "#SessionService.v1_1_8.SessionService",
      "@odata.id": `${ROOT}/SessionService`,
      Id: "SessionService",
      Name: "Session Service",
      ServiceEnabled: true,
      SessionTimeout: 1800,
      Sessions: { "@odata.id": SESSIONS },
    };
  }

  private sessionCollection() {
    const members = [...this.sessions.values()].map((s) => ({ "@odata.id": `${SESSIONS}/${s.id}` }));
    return {
      "@odata.type": "#SessionCollection.SessionCollection",
      "@odata.id": SESSIONS,
      Name: "Session Collection",
      Members: members,
      "Members@odata.count": members.length,
    };
  }

  private login(body: unknown): Reply {
    const { UserName, Password } = (body ?? {}) as { UserName?: unknown; Password?: unknown };
    if (typeof UserName !== "string" || typeof Password !== "string") {
      throw new HttpError(400, "UserName and Password are required");
    }
    if (!this.credentialsMatch(UserName, Password)) throw unauthorized();
    const session: Session = {
      id: crypto.randomBytes(8).toString("hex"),
      token: crypto.randomBytes(24).toString("base64url"),
      username: UserName,
    };
    this.sessions.set(session.token, session);
    // Bounded: drop the oldest, as BMCs with a session limit do (its client logs in again).
    while (this.sessions.size > this.maxSessions) {
      this.sessions.delete(this.sessions.keys().next().value!);
    }
    this.stats.sessionsCreated++;
    const location = `${SESSIONS}/${session.id}`;
    return {
      status: 201,
      body: sessionResource(session),
      headers: { "X-Auth-Token": session.token, Location: location },
    };
  }

  private sessionRequest(method: string, id: string): Reply {
    const found = [...this.sessions.values()].find((s) => s.id === id);
    if (!found) throw new HttpError(404, `no session ${id}`);
    return only(method, ["GET", "DELETE"], () => {
      if (method === "GET") return ok(sessionResource(found));
      this.sessions.delete(found.token);
      this.stats.sessionsDeleted++;
      return { status: 204 };
    });
  }

  private systemCollection() {
    const members = [...this.systemsById.keys()].map((id) => ({
      "@odata.id": `${ROOT}/Systems/${encodeURIComponent(id)}`,
    }));
    return {
      "@odata.type": "#ComputerSystemCollection.ComputerSystemCollection",
      "@odata.id": `${ROOT}/Systems`,
      Name: "Computer System Collection",
      Members: members,
      "Members@odata.count": members.length,
    };
  }

  private patchSystem(system: SimSystem, req: IncomingMessage, body: unknown): Reply {
    const ifMatch = req.headers["if-match"];
    if (!system.matches(typeof ifMatch === "string" ? ifMatch : undefined)) {
      system.record("412 stale If-Match");
      throw new HttpError(412, `the system changed since ETag ${String(ifMatch)} (now ${system.etag})`);
    }
    const boot = (
      body as {
        Boot?: {
          BootSourceOverrideTarget?: unknown;
          BootSourceOverrideEnabled?: unknown;
          BootSourceOverrideMode?: unknown;
        };
      }
    )?.Boot;
    const keys = Object.keys((body as object) ?? {});
    if (!boot || keys.some((k) => k !== "Boot")) {
      throw new HttpError(400, `only Boot can be changed here (got ${keys.join(", ") || "nothing"})`);
    }
    const target = boot.BootSourceOverrideTarget ?? system.boot.target;
    const enabled = boot.BootSourceOverrideEnabled ?? system.boot.enabled;
    if (!BOOT_TARGETS.includes(target as BootTarget)) {
      throw new HttpError(
        400,
        `BootSourceOverrideTarget ${JSON.stringify(target)} is not one of ${BOOT_TARGETS.join(", ")}`,
      );
    }
    if (!BOOT_ENABLED.includes(enabled as BootEnabled)) {
      throw new HttpError(
        400,
        `BootSourceOverrideEnabled ${JSON.stringify(enabled)} is not one of ${BOOT_ENABLED.join(", ")}`,
      );
    }
    const mode = boot.BootSourceOverrideMode;
    if (mode !== undefined && system.vendor === "hpe") {
      throw new HttpError(400, "BootSourceOverrideMode is read-only: PropertyNotWritable");
    }
    if (mode !== undefined && !BOOT_MODES.includes(mode as BootMode)) {
      throw new HttpError(
        400,
        `BootSourceOverrideMode ${JSON.stringify(mode)} is not one of ${BOOT_MODES.join(", ")}`,
      );
    }
    system.setBoot(target as BootTarget, enabled as BootEnabled);
    if (mode !== undefined) system.mode = mode as BootMode;
    else if (system.vendor === "supermicro") system.mode = "Legacy";
    return { status: 204, headers: { ETag: system.etag } };
  }

  private reset(system: SimSystem, body: unknown): Reply {
    const type = (body as { ResetType?: unknown })?.ResetType;
    if (!RESET_TYPES.includes(type as ResetType)) {
      throw new HttpError(400, `ResetType ${JSON.stringify(type)} is not one of ${RESET_TYPES.join(", ")}`);
    }
    if (system.faults.notNow && system.faults.notNow > 0) {
      system.faults.notNow--;
      system.record(`409 reset ${type}`);
      throw new HttpError(
        409,
        "The value for the parameter ResetType conflicts with other parameters.",
        {},
        "Base.1.12.ActionParameterValueConflict",
      );
    }
    system.reset(type as ResetType);
    return { status: 204 };
  }

  /** The caller's session, if it used one; basic auth is accepted everywhere as well. */
  private authenticate(req: IncomingMessage): Session | undefined {
    const token = req.headers["x-auth-token"];
    if (typeof token === "string") {
      const session = this.sessions.get(token);
      if (!session) throw unauthorized();
      this.stats.tokenRequests++;
      return session;
    }
    const basic = /^Basic ([A-Za-z0-9+/=]+)$/.exec(req.headers.authorization ?? "");
    if (basic) {
      const text = Buffer.from(basic[1]!, "base64").toString("utf8");
      const colon = text.indexOf(":");
      if (colon > 0 && this.credentialsMatch(text.slice(0, colon), text.slice(colon + 1))) {
        this.stats.basicAuthRequests++;
        return undefined;
      }
    }
    throw unauthorized();
  }

  private credentialsMatch(username: string, password: string): boolean {
    // Compared in constant time, as a credential check should be, even in a lab.
    const same = (a: string, b: string) => {
      const x = crypto.createHash("sha256").update(a).digest();
      const y = crypto.createHash("sha256").update(b).digest();
      return crypto.timingSafeEqual(x, y);
    };
    return same(username, this.username) && same(password, this.password);
  }
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const ok = (body: unknown, headers?: Record<string, string>): Reply => ({ status: 200, body, headers });

function only(method: string, allowed: string[], fn: () => Reply): Reply {
  if (!allowed.includes(method)) {
    throw new HttpError(405, `${method} is not allowed here`, { Allow: allowed.join(", ") });
  }
  return fn();
}

const unauthorized = () =>
  new HttpError(401, "authentication required", { "WWW-Authenticate": 'Basic realm="Redfish"' });

function systemResource(s: SimSystem) {
  const self = `${ROOT}/Systems/${encodeURIComponent(s.id)}`;
  return {
    "@odata.type": "#ComputerSystem.v1_20_0.ComputerSystem",
    "@odata.id": self,
    "@odata.etag": s.etag,
    Id: s.id,
    Name: `Lab system ${s.id}`,
    SystemType: "Physical",
    Manufacturer: { lab: "Baremetal lab", supermicro: "Supermicro", hpe: "HPE" }[s.vendor],
    Model: "Simulated server",
    SerialNumber: s.serial,
    PowerState: s.powerState,
    Status: { State: "Enabled", Health: "OK" },
    Boot: {
      BootSourceOverrideTarget: s.boot.target,
      BootSourceOverrideEnabled: s.boot.enabled,
      BootSourceOverrideMode: s.mode,
      "BootSourceOverrideTarget@Redfish.AllowableValues": [...BOOT_TARGETS],
      "BootSourceOverrideMode@Redfish.AllowableValues": [...BOOT_MODES],
    },
    Actions: {
      "#ComputerSystem.Reset": {
        target: `${self}/Actions/ComputerSystem.Reset`,
        "ResetType@Redfish.AllowableValues": [...RESET_TYPES],
      },
    },
  };
}

const sessionResource = (s: Session) => ({
  "@odata.type": "#Session.v1_6_0.Session",
  "@odata.id": `${SESSIONS}/${s.id}`,
  Id: s.id,
  Name: "User Session",
  UserName: s.username,
});

/** A Redfish error body, the shape the driver reads its messages from. */
function redfishError(status: number, message: string, messageId?: string) {
  const code =
    messageId ??
    (status === 401
      ? "Base.1.8.NoValidSession"
      : status === 412
        ? "Base.1.8.PreconditionFailed"
        : "Base.1.8.GeneralError");
  return {
    error: {
      code,
      message,
      "@Message.ExtendedInfo": [{ MessageId: code, Message: message, Severity: "Warning" }],
    },
  };
}

function send(
  res: ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const text = body === undefined || status === 204 ? "" : JSON.stringify(body);
  res.writeHead(status, {
    ...(text ? { "Content-Type": "application/json; charset=utf-8" } : {}),
    "Content-Length": Buffer.byteLength(text),
    "OData-Version": "4.0",
    ...headers,
  });
  res.end(text);
}
