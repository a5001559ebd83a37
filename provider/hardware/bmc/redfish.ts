// Redfish over HTTPS (Node's client, ../http.ts). Session auth when the service offers it (one login, X-Auth-Token,
// renewed once on 401), else basic auth. Changes go through ComputerSystem.Reset and a PATCH of Boot, with If-Match
// when the service gives ETags, a wait on the task monitor when it answers 202, and then a
// read-back of the system until it shows the change: a Reset the service accepted is not yet a
// machine that changed state.
import { noLog, type CommandLog } from "../commands";
import type { IncomingHttpHeaders } from "node:http";
import type https from "node:https";
import { HardwareError } from "../errors";
import { httpRequest, requestSent, type HttpResponse } from "../http";
import { Slots } from "../slots";
import { httpsAgent, type TlsTrust } from "../tls";
import { pollUntil, retrying, DEFAULT_RETRY, type RetryPolicy } from "../timing";
import { confirmBoot, setPowerConfirmed } from "./confirm";
import {
  DEFAULT_BMC_TIMEOUTS,
  type Bmc,
  type BmcTimeouts,
  type BootDevice,
  type BootMode,
  type BootSetting,
  type PowerAction,
  type PowerState,
} from "./types";

export interface RedfishEndpoint {
  /** https://host[:port] */
  url: string;
  username: string;
  password: string;
  /** auto (default): a session when the service offers one, else basic auth. */
  auth?: "auto" | "session" | "basic";
  tls?: TlsTrust;
  /** Which ComputerSystem, when the service has more than one. */
  systemId?: string;
  /** The firmware mode its netboots and disk boots use; unset, the BMC's own is kept. */
  bootMode?: BootMode;
}

export interface RedfishOptions {
  timeouts?: Partial<BmcTimeouts>;
  retry?: RetryPolicy;
  /** Where each change sent is noted, for the audit of the operation using this BMC. */
  log?: CommandLog;
}

/** PowerState values of a change under way (Redfish's PowerState enum). */
const TRANSITIONS = new Set(["PoweringOn", "PoweringOff"]);

interface ComputerSystem {
  PowerState?: string;
  Manufacturer?: string;
  Boot?: {
    BootSourceOverrideTarget?: string;
    BootSourceOverrideEnabled?: string;
    BootSourceOverrideMode?: string;
    "BootSourceOverrideTarget@Redfish.AllowableValues"?: string[];
  };
  Actions?: {
    "#ComputerSystem.Reset"?: {
      target?: string;
      "ResetType@Redfish.AllowableValues"?: string[];
      "@Redfish.ActionInfo"?: string;
    };
  };
  "@odata.etag"?: string;
}

const TARGET: Record<BootDevice, string> = { pxe: "Pxe", disk: "Hdd" };
const MODE: Record<BootMode, string> = { uefi: "UEFI", legacy: "Legacy" };
const NETWORK_DOWN = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNRESET",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
]);
/**
 * No answer, but the BMC may have received the request (and acted on it): it was written
 * whole before the deadline or the reset. One that waited for its turn, failed to connect,
 * or went out on a kept-alive socket the BMC had closed never arrived, and is sent again.
 */
function mayHaveArrived(e: unknown): e is HardwareError {
  return (
    e instanceof HardwareError &&
    (e.code === "BmcTimeout" || e.code === "BmcUnreachable") &&
    requestSent(e.cause)
  );
}

/**
 * Refusals that pass by themselves, which a retry gets through: iDRAC's "retry in a while"
 * (SYS518) and its 409 for an On shortly after an off (ActionParameterValueConflict, iDRAC
 * 10), iLO's state and POST refusals. The same set sushy and Ironic retry.
 */
const NOT_NOW =
  /SYS518|ActionParameterValueConflict|InvalidOperationForSystemState|UnableToModifyDuringSystemPOST/;
/** How long a "not now" without a Retry-After waits before the next attempt. */
const NOT_NOW_WAIT_MS = 2000;

/** Retry-After in ms: seconds, or an HTTP date. */
function retryAfter(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** A login refused because the BMC's sessions are all in use. */
const SESSIONS_FULL = /RAC0218|maximum number of (user )?sessions|session limit/i;

/** An action sent whose answer never came: the BMC may have carried it out. */
class Unanswered extends HardwareError {}

const UNTRUSTED = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS/;
const STANDARD_SESSIONS = "/redfish/v1/SessionService/Sessions";
const RECENT_MS = 1000;
/**
 * Per BMC address, for this process: its sessions collection, "basic" when it has none, or
 * "look" while the standard place was refused and the service root must say.
 */
const sessionsAt = new Map<string, string>();

/** Requests in flight to one BMC address at most, from this process. */
const REQUESTS_PER_BMC = 8;
const slotsAt = new Map<string, Slots>();
function slotsFor(address: string): Slots {
  let slots = slotsAt.get(address);
  if (!slots) slotsAt.set(address, (slots = new Slots(REQUESTS_PER_BMC)));
  return slots;
}

export class RedfishBmc implements Bmc {
  readonly protocol = "redfish" as const;
  readonly address: string;
  private readonly agent: https.Agent;
  private readonly timeouts: BmcTimeouts;
  private readonly retry: RetryPolicy;
  private readonly log: CommandLog;
  private token?: string;
  private sessionUri?: string;
  private systemPath?: string;
  private reset?: { target: string; offered?: string[] };
  private lastRead?: { power?: string; at: number };
  private mode: "auto" | "session" | "basic";
  private sessionsUri?: string;

  constructor(
    private readonly endpoint: RedfishEndpoint,
    options: RedfishOptions = {},
  ) {
    const url = new URL(endpoint.url);
    if (url.protocol !== "https:") {
      throw new HardwareError(
        "BmcUnsupported",
        `Redfish BMC ${endpoint.url}: only https:// is allowed (credentials would travel in clear)`,
        { transient: false },
      );
    }
    this.address = url.origin;
    this.mode = endpoint.auth ?? "auto";
    this.timeouts = { ...DEFAULT_BMC_TIMEOUTS, ...options.timeouts };
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.log = options.log ?? noLog;
    this.agent = httpsAgent(endpoint.tls ?? {});
  }

  /** The state it is in, or the one it is heading to while PoweringOn/PoweringOff (a refresh). */
  async powerState(): Promise<PowerState> {
    const value = (await this.system()).data.PowerState;
    return this.parsePower(value === "PoweringOn" ? "On" : value === "PoweringOff" ? "Off" : value);
  }

  /**
   * PoweringOn and PoweringOff as a change under way: an "off" decided from PoweringOn would
   * skip the request and the machine would come up anyway (confirm.ts waits them out).
   */
  async powerReading(): Promise<PowerState | "changing"> {
    const value = (await this.system()).data.PowerState;
    return TRANSITIONS.has(value ?? "") ? "changing" : this.parsePower(value);
  }

  /** PowerState from a read of the system in the last second (see PowerDriver), once settled. */
  recentPowerState(): PowerState | undefined {
    const last = this.lastRead;
    if (!last || Date.now() - last.at > RECENT_MS || last.power === undefined) return undefined;
    if (TRANSITIONS.has(last.power)) return undefined;
    return this.parsePower(last.power);
  }

  setPower(action: PowerAction): Promise<void> {
    return setPowerConfirmed(this, this.timeouts, action);
  }

  async requestPower(action: "on" | "off" | "soft-off"): Promise<void> {
    const type = await this.pick(
      action === "on" ? ["On", "ForceOn"] : action === "off" ? ["ForceOff"] : ["GracefulShutdown"],
    );
    const { target } = await this.resetAction();
    this.lastRead = undefined; // what it read before this request no longer holds
    this.log(`redfish ${this.address}: POST ${target} ResetType=${type}`);
    let res: RedfishResponse;
    try {
      res = await this.request("POST", target, { ResetType: type }, {}, { resend: false });
    } catch (e) {
      if (!(e instanceof Unanswered)) throw e;
      // Sent again, a reset that did arrive would be a second one: another cycle, or an On
      // refused (409) while the first one powers the machine on. The read-back that follows
      // says whether it took.
      this.log(
        `redfish ${this.address}: no answer to ResetType=${type} (${(e as Error).message}); reading back`,
      );
      return;
    }
    this.expectOk(res, `reset ${type}`);
    await this.waitTask(res, `reset ${type}`);
  }

  async bootDevice(): Promise<BootSetting> {
    const { data } = await this.system();
    const target = data.Boot?.BootSourceOverrideTarget ?? "None";
    const enabled = data.Boot?.BootSourceOverrideEnabled ?? "Disabled";
    const device =
      enabled === "Disabled" ? "none" : target === "Pxe" ? "pxe" : target === "Hdd" ? "disk" : "none";
    const mode = (Object.keys(MODE) as BootMode[]).find((m) => MODE[m] === data.Boot?.BootSourceOverrideMode);
    return { device, persistent: enabled === "Continuous", ...(mode ? { mode } : {}) };
  }

  async setBootDevice(device: BootDevice, options: { persistent: boolean }): Promise<void> {
    const target = TARGET[device];
    const enabled = options.persistent ? "Continuous" : "Once";
    const first = await this.system();
    const data = first.data;
    let etag = first.etag;
    const allowed = data.Boot?.["BootSourceOverrideTarget@Redfish.AllowableValues"];
    if (allowed && !allowed.includes(target)) {
      throw new HardwareError(
        "BmcUnsupported",
        `Redfish BMC ${this.address}: boot device ${target} is not offered (offered: ${allowed.join(", ")})`,
        { transient: false },
      );
    }
    const mode = this.modeToSend(data);
    const body = {
      Boot: {
        BootSourceOverrideTarget: target,
        BootSourceOverrideEnabled: enabled,
        ...(mode ? { BootSourceOverrideMode: mode } : {}),
      },
    };
    this.log(
      `redfish ${this.address}: PATCH ${this.systemPath} Boot ${target} ${enabled}${mode ? ` ${mode}` : ""}`,
    );
    for (let attempt = 1; ; attempt++) {
      const res = await this.request("PATCH", this.systemPath!, body, etag ? { "If-Match": etag } : {});
      // 412: someone changed the system since our read; 428: the service insists on If-Match.
      if ((res.status === 412 || res.status === 428) && attempt < 3) {
        etag = (await this.system()).etag;
        continue;
      }
      if (res.status === 400 && mode && mode !== data.Boot?.BootSourceOverrideMode) {
        throw new HardwareError(
          "BmcUnsupported",
          `Redfish BMC ${this.address}: refused BootSourceOverrideMode ${mode} (the machine boots ${data.Boot?.BootSourceOverrideMode ?? "in another mode"}): change the mode in its firmware settings, or set the machine's bmc.bootMode in the inventory to the one it has (HTTP 400) ${messages(res.data)}`,
          { transient: false },
        );
      }
      this.expectOk(res, `set boot device ${target}`);
      await this.waitTask(res, `set boot device ${target}`);
      break;
    }
    await confirmBoot(this, this.timeouts, device, this.endpoint.bootMode, () => this.bootDevice());
  }

  /**
   * The BootSourceOverrideMode a PATCH of Boot carries. Supermicro falls back to Legacy when
   * the PATCH leaves it out, so there it is always sent (the current one when the inventory
   * names none). Elsewhere only a change is sent: HPE's and Dell's BMCs refuse a write of it
   * (the error then says the machine boots in another mode than the inventory's bootMode).
   */
  private modeToSend(data: ComputerSystem): string | undefined {
    const current = data.Boot?.BootSourceOverrideMode;
    const wanted = this.endpoint.bootMode && MODE[this.endpoint.bootMode];
    const supermicro = /supermicro/i.test(data.Manufacturer ?? "");
    if (wanted && (wanted !== current || supermicro)) return wanted;
    return supermicro ? current : undefined;
  }

  async close(): Promise<void> {
    if (!this.sessionUri) return;
    const uri = this.sessionUri;
    // The DELETE still needs the token: build its headers before forgetting the session.
    const headers = this.authHeaders();
    this.sessionUri = this.token = undefined;
    await this.limited("DELETE", uri, headers).catch(() => undefined);
  }

  /** The first reset type in `preferred` that the service offers. */
  private async pick(preferred: string[]): Promise<string> {
    const { offered } = await this.resetAction();
    const found = offered ? preferred.find((t) => offered.includes(t)) : preferred[0];
    if (!found) {
      throw new HardwareError(
        "BmcUnsupported",
        `Redfish BMC ${this.address}: none of ${preferred.join(", ")} is offered (offered: ${offered!.join(", ")})`,
        { transient: false },
      );
    }
    return found;
  }

  /** Where ComputerSystem.Reset is posted and which types it takes; read once, it does not change. */
  private async resetAction(): Promise<{ target: string; offered?: string[] }> {
    if (this.reset) return this.reset;
    const { data } = await this.system();
    const action = data.Actions?.["#ComputerSystem.Reset"];
    let offered = action?.["ResetType@Redfish.AllowableValues"];
    if (!offered && action?.["@Redfish.ActionInfo"]) {
      const info = await this.request("GET", action["@Redfish.ActionInfo"]);
      if (info.status === 200) {
        const params = (info.data as { Parameters?: { Name: string; AllowableValues?: string[] }[] })
          .Parameters;
        offered = params?.find((p) => p.Name === "ResetType")?.AllowableValues;
      }
    }
    this.reset = { target: action?.target ?? `${this.systemPath}/Actions/ComputerSystem.Reset`, offered };
    return this.reset;
  }

  private parsePower(value: string | undefined): PowerState {
    if (value === "On") return "on";
    if (value === "Off") return "off";
    throw new HardwareError(
      "BmcError",
      `Redfish BMC ${this.address}: unexpected PowerState ${JSON.stringify(value)}`,
    );
  }

  private async system(): Promise<{ data: ComputerSystem; etag?: string }> {
    if (!this.systemPath) this.systemPath = await this.findSystem();
    const res = await this.request("GET", this.systemPath);
    this.expectOk(res, "read the system");
    const data = res.data as ComputerSystem;
    const etag = (res.headers.etag as string | undefined) ?? data["@odata.etag"];
    this.lastRead = { power: data.PowerState, at: Date.now() };
    // The reset action comes with every read of the system: keep it rather than read again.
    const action = data.Actions?.["#ComputerSystem.Reset"];
    if (!this.reset && action?.["ResetType@Redfish.AllowableValues"]) {
      this.reset = {
        target: action.target ?? `${this.systemPath}/Actions/ComputerSystem.Reset`,
        offered: action["ResetType@Redfish.AllowableValues"],
      };
    }
    return { data, etag };
  }

  private async findSystem(): Promise<string> {
    if (this.endpoint.systemId) return `/redfish/v1/Systems/${encodeURIComponent(this.endpoint.systemId)}`;
    const res = await this.request("GET", "/redfish/v1/Systems");
    this.expectOk(res, "list systems");
    const members = ((res.data as { Members?: { "@odata.id": string }[] }).Members ?? []).map(
      (m) => m["@odata.id"],
    );
    if (members.length !== 1) {
      throw new HardwareError(
        "BmcUnsupported",
        `Redfish BMC ${this.address}: ${members.length} systems found (${members.join(", ") || "none"}); set systemId to choose one`,
        { transient: false },
      );
    }
    return members[0]!;
  }

  /** Waits for a task the service started (202 + Location) to finish. */
  private async waitTask(res: RedfishResponse, what: string): Promise<void> {
    const monitor = res.status === 202 ? (res.headers.location as string | undefined) : undefined;
    if (!monitor) return;
    const done = await pollUntil({
      read: () => this.request("GET", monitor),
      done: (r) => r.status !== 202,
      deadlineMs: this.timeouts.confirmMs,
      intervalMs: this.timeouts.pollIntervalMs,
      onTimeout: () =>
        new HardwareError(
          "BmcTimeout",
          `Redfish BMC ${this.address}: ${what}: task ${monitor} did not finish within ${this.timeouts.confirmMs} ms`,
        ),
    });
    const state = (done.data as { TaskState?: string } | undefined)?.TaskState;
    if (done.status >= 400 || state === "Exception" || state === "Killed" || state === "Cancelled") {
      throw new HardwareError(
        "BmcError",
        `Redfish BMC ${this.address}: ${what}: task ended ${state ?? done.status}: ${messages(done.data)}`,
      );
    }
  }

  private expectOk(res: RedfishResponse, what: string): void {
    if (res.status >= 200 && res.status < 300) return;
    const detail = messages(res.data);
    if (res.status === 401 || res.status === 403) {
      throw new HardwareError(
        "BmcAuthFailed",
        `Redfish BMC ${this.address}: ${what}: authentication failed (HTTP ${res.status}); check the BMC's credential`,
      );
    }
    if (res.status === 503 || res.status === 429) {
      throw new HardwareError(
        "BmcBusy",
        `Redfish BMC ${this.address}: ${what}: busy (HTTP ${res.status}) ${detail}`,
        { retryAfterMs: retryAfter(res.headers["retry-after"]) },
      );
    }
    if (NOT_NOW.test(ids(res.data))) {
      throw new HardwareError(
        "BmcBusy",
        `Redfish BMC ${this.address}: ${what}: not now (HTTP ${res.status}) ${detail}`,
        { retryAfterMs: retryAfter(res.headers["retry-after"]) ?? NOT_NOW_WAIT_MS },
      );
    }
    if (res.status === 404 || res.status === 405 || res.status === 501) {
      throw new HardwareError(
        "BmcUnsupported",
        `Redfish BMC ${this.address}: ${what} is not supported (HTTP ${res.status}) ${detail}`,
        { transient: false },
      );
    }
    throw new HardwareError(
      "BmcError",
      `Redfish BMC ${this.address}: ${what} failed (HTTP ${res.status}) ${detail}`,
      { transient: res.status >= 500 },
    );
  }

  private authHeaders(): Record<string, string> {
    if (this.token) return { "X-Auth-Token": this.token };
    if (this.mode === "basic") {
      const basic = Buffer.from(`${this.endpoint.username}:${this.endpoint.password}`).toString("base64");
      return { Authorization: `Basic ${basic}` };
    }
    return {};
  }

  private async login(): Promise<void> {
    if (!this.sessionsUri) {
      const known = sessionsAt.get(this.address);
      if (known === "basic" && this.mode === "auto") {
        this.mode = "basic";
        return;
      }
      this.sessionsUri =
        known === undefined
          ? STANDARD_SESSIONS
          : known === "look" || known === "basic"
            ? await this.findSessions()
            : known;
      if (!this.sessionsUri) return;
    }
    const res = await this.send("POST", this.sessionsUri, {
      UserName: this.endpoint.username,
      Password: this.endpoint.password,
    });
    const token = res.headers["x-auth-token"] as string | undefined;
    // Refused at the standard place, possibly by a service without sessions that wants basic
    // auth on every URI (401): ask the service root, once, before calling anything an error.
    if ([401, 404, 405].includes(res.status) && !sessionsAt.has(this.address)) {
      sessionsAt.set(this.address, "look");
      this.sessionsUri = undefined;
      return this.login();
    }
    if (res.status === 401 || res.status === 403 || ((res.status === 200 || res.status === 201) && !token)) {
      throw new HardwareError(
        "BmcAuthFailed",
        `Redfish BMC ${this.address}: login refused (HTTP ${res.status}); check the BMC's credential`,
      );
    }
    // Past its session limit iDRAC refuses logins (503, RAC0218) until old sessions time out
    // (a provider killed mid-run leaves its own behind); basic auth needs no session.
    if (
      res.status === 503 &&
      this.mode === "auto" &&
      SESSIONS_FULL.test(`${messages(res.data)} ${ids(res.data)}`)
    ) {
      this.mode = "basic";
      this.sessionsUri = undefined;
      this.log(`redfish ${this.address}: sessions full (${messages(res.data)}); basic auth`);
      return;
    }
    this.expectOk(res, "open a session");
    sessionsAt.set(this.address, this.sessionsUri);
    this.token = token;
    this.sessionUri =
      (res.headers.location as string | undefined) ?? (res.data as { "@odata.id"?: string })["@odata.id"];
  }

  /**
   * Where to log in when the standard URI was refused: the service root (readable without
   * auth) links the sessions collection, or has none (basic auth then). Redfish puts the
   * collection at a standard URI, so a first login goes there without this read: one request
   * less per BMC.
   */
  private async findSessions(): Promise<string | undefined> {
    const root = await this.send("GET", "/redfish/v1/");
    const link = (root.data as { Links?: { Sessions?: { "@odata.id"?: string } } } | undefined)?.Links
      ?.Sessions?.["@odata.id"];
    if (!link && this.mode === "auto") {
      sessionsAt.set(this.address, "basic");
      this.mode = "basic"; // sushy-tools and some older BMCs have no SessionService
      return undefined;
    }
    return link ?? STANDARD_SESSIONS;
  }

  /**
   * One authenticated request; transient failures are retried, a lapsed session renewed once.
   * With `resend: false` (an action, which is not idempotent) a request that may have reached
   * the BMC (no answer in time, the connection reset after it was sent) is not sent again.
   */
  private request(
    method: Method,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    { resend = true }: { resend?: boolean } = {},
  ): Promise<RedfishResponse> {
    const sent = () =>
      this.send(method, path, body, headers).catch((e: unknown) => {
        throw resend || !mayHaveArrived(e)
          ? e
          : new Unanswered(e.code, e.message, { transient: false, cause: e });
      });
    return retrying(this.retry, async () => {
      if (this.mode !== "basic" && !this.token) await this.login();
      let res = await sent();
      if (res.status === 401 && this.mode !== "basic") {
        this.token = undefined;
        await this.login();
        res = await sent();
      }
      // Busy, or "not now": answered without acting, so sent again after a pause.
      if (res.status === 503 || res.status === 429 || (res.status >= 400 && NOT_NOW.test(ids(res.data)))) {
        this.expectOk(res, `${method} ${path}`);
      }
      return res;
    });
  }

  private async send(
    method: Method,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<RedfishResponse> {
    try {
      return await this.limited(method, path, { ...this.authHeaders(), ...headers }, body);
    } catch (e) {
      throw this.networkError(e);
    }
  }

  /**
   * One request, under one deadline from waiting for a turn at the BMC to the last byte of the
   * answer (a socket timeout would start only once connected).
   */
  private async limited(
    method: Method,
    path: string,
    headers: Record<string, string>,
    body?: unknown,
  ): Promise<RedfishResponse> {
    // Paths come from the service too (Location, @odata.id, action targets): a credential goes
    // only to the address it is for, never to one a response names.
    const url = new URL(path, this.address);
    if (url.origin !== this.address) {
      throw new HardwareError(
        "BmcError",
        `Redfish BMC ${this.address}: refusing to send a request to ${url.origin}, another address`,
        { transient: false },
      );
    }
    // A timer of our own, cleared once answered: AbortSignal.timeout would fire (and build a
    // DOMException) at every request's deadline, long after the answer.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeouts.commandMs);
    const signal = controller.signal;
    const json = body === undefined ? undefined : JSON.stringify(body);
    try {
      const res = await slotsFor(this.address).run(signal, () =>
        httpRequest({
          method,
          url,
          agent: this.agent,
          signal,
          headers: json === undefined ? { ...BASE_HEADERS, ...headers } : { ...JSON_HEADERS, ...headers },
          body: json,
        }),
      );
      return { status: res.status, headers: res.headers, data: parseBody(res) };
    } catch (e) {
      if (signal.aborted) {
        throw new HardwareError(
          "BmcTimeout",
          `Redfish BMC ${this.address}: no answer within ${this.timeouts.commandMs} ms`,
          { cause: e },
        );
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private networkError(e: unknown): HardwareError {
    if (e instanceof HardwareError) return e;
    const code = (e as NodeJS.ErrnoException).code;
    const cause = (e as { cause?: NodeJS.ErrnoException }).cause;
    const text = (e as Error).message;
    if (code === "ECONNABORTED" || code === "ETIMEDOUT") {
      return new HardwareError(
        "BmcTimeout",
        `Redfish BMC ${this.address}: no answer within ${this.timeouts.commandMs} ms`,
        { cause: e },
      );
    }
    if ((code && UNTRUSTED.test(code)) || (cause?.code && UNTRUSTED.test(cause.code))) {
      return new HardwareError(
        "BmcUntrusted",
        `Redfish BMC ${this.address}: TLS certificate refused: ${text}`,
      );
    }
    if ((code && NETWORK_DOWN.has(code)) || (cause?.code && NETWORK_DOWN.has(cause.code))) {
      return new HardwareError(
        "BmcUnreachable",
        `Redfish BMC ${this.address}: unreachable (${cause?.code ?? code})`,
        { cause: e },
      );
    }
    return new HardwareError("BmcError", `Redfish BMC ${this.address}: ${text}`, { transient: false });
  }
}

type Method = "GET" | "POST" | "PATCH" | "DELETE";

export interface RedfishResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The JSON document, the text when it is not JSON, undefined when empty. */
  data: unknown;
}

// A BMC is on the management network: nothing from the environment (a proxy) is used. Bodies
// are small, so they are asked for uncompressed.
const BASE_HEADERS = {
  Accept: "application/json",
  "Accept-Encoding": "identity",
  "OData-Version": "4.0",
  "User-Agent": "pulumi-baremetal",
};
const JSON_HEADERS = { ...BASE_HEADERS, "Content-Type": "application/json" };

function parseBody(res: HttpResponse): unknown {
  if (!res.text) return undefined;
  try {
    return JSON.parse(res.text);
  } catch {
    return res.text;
  }
}

/** The MessageIds of a Redfish error body (its code and each extended message's). */
function ids(data: unknown): string {
  const err = (
    data as { error?: { code?: string; "@Message.ExtendedInfo"?: { MessageId?: string }[] } } | undefined
  )?.error;
  return [err?.code, ...(err?.["@Message.ExtendedInfo"]?.map((m) => m.MessageId) ?? [])]
    .filter(Boolean)
    .join(" ");
}

/** The human-readable part of a Redfish error body. */
function messages(data: unknown): string {
  const err = (
    data as { error?: { message?: string; "@Message.ExtendedInfo"?: { Message?: string }[] } } | undefined
  )?.error;
  const extended = err?.["@Message.ExtendedInfo"]?.map((m) => m.Message).filter(Boolean) ?? [];
  return [err?.message, ...extended].filter(Boolean).join("; ");
}
