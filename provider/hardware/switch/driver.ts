// Runs any dialect over one pinned SSH session per switch. Each change is one batch: the
// change's lines, the dialect's commit lines, then a read of what changed, so the result is
// confirmed by the switch in the same round trip. Failed batches are worded by the dialect's
// error patterns; transient failures (connection lost, timeout) are retried up to a bound.
//
// Port changes that queue for the switch while it is busy go out together, as
// networking-generic-switch batches them: every change's lines, one commit, one read of the
// switch's state that confirms each change on its own. A wave of servers reaching the switch
// at once then waits for two round trips, not one per server before it (and for NVUE, one
// `nv config apply` of seconds, not one each). A batch the switch refuses is run again one
// change at a time, so that each change gets its own answer.
import { noLog, type CommandLog } from "../commands";
import { randomBytes } from "node:crypto";
import { HardwareError } from "../errors";
import { retrying, DEFAULT_RETRY, type RetryPolicy } from "../timing";
import { render, type ChangeValues, type Dialect, type SwitchState, type Template } from "./dialect";
import {
  ConnectionLost,
  Lock,
  SshSession,
  type ExecResult,
  type SshEndpoint,
  type SwitchTransport,
} from "./ssh";
import type { PortConfig, SwitchDriver } from "./types";
import { checkPort, checkVlanId, checkVlanList } from "./validate";

export interface SwitchOptions {
  /** Deadline of one SSH round trip, connecting included. */
  commandTimeoutMs?: number;
  retry?: RetryPolicy;
  /** Ports toward the network, which carry every VLAN: never a VLAN's members (inventory `uplinks`). */
  uplinks?: string[];
  /**
   * Runs a change with the switch held against other processes (Store.hold): this driver's
   * lock serializes this process only, and two changes at once from two processes can mix,
   * e.g. in the one pending NVUE revision a login has. Reads need no hold.
   */
  exclusive?: <T>(change: () => Promise<T>) => Promise<T>;
}

type ChangeName = keyof Dialect["changes"];

type PortChangeName = "setAccess" | "setTrunk" | "resetPort";

interface PortChange {
  name: PortChangeName;
  values: ChangeValues & { port: string };
  done: (p: PortConfig) => boolean;
  /** The asking operation's audit, which its own lines go to whichever batch carries them. */
  log: CommandLog;
  resolve: (p: PortConfig) => void;
  reject: (e: unknown) => void;
}

/** What became of one queued change. */
type Outcome = { port: PortConfig } | { error: unknown };

/** The most port changes one batch carries; the rest wait for the next. */
export const MAX_BATCH = 32;

export class Switch implements SwitchDriver {
  readonly address: string;
  readonly dialect: string;
  private readonly session: SwitchTransport;
  private readonly lock = new Lock();
  private readonly retry: RetryPolicy;
  private readonly uplinks: Set<string>;
  private readonly exclusive: <T>(change: () => Promise<T>) => Promise<T>;
  private queued: PortChange[] = [];

  private readonly d: Dialect;

  constructor(endpoint: SshEndpoint | SwitchTransport, dialect: Dialect, options: SwitchOptions = {}) {
    this.session =
      "exec" in endpoint ? endpoint : new SshSession(endpoint, options.commandTimeoutMs ?? 15_000);
    this.address = this.session.address;
    // An answer its parser cannot read (another OS version's format) is a named error of this
    // switch, never a crash: the change it confirms counts as not confirmed.
    this.d = {
      ...dialect,
      parsePort: (out, port) => this.readable(() => dialect.parsePort(out, port)),
      parseState: (out) => this.readable(() => dialect.parseState(out)),
    };
    this.dialect = dialect.name;
    this.retry = options.retry ?? DEFAULT_RETRY;
    // They go into commands (on dialects that add VLANs to them): checked as any port is.
    for (const u of options.uplinks ?? []) this.checkPort(u);
    this.uplinks = new Set(options.uplinks ?? []);
    this.exclusive = options.exclusive ?? ((change) => change());
  }

  async ensureVlan(vlan: number, log: CommandLog = noLog): Promise<void> {
    checkVlanId(vlan);
    await this.changing(async () => {
      const state = await this.state();
      const exists = state.vlans.includes(vlan);
      // An uplink named since the VLAN was made gets it too.
      const lacking = this.uplinksCarrying(state, vlan, false);
      if (exists && lacking.length === 0) return;
      const out = await this.vlanBatch("ensureVlan", vlan, !exists, lacking, log);
      const after = this.d.parseState(out);
      if (!after.vlans.includes(vlan)) this.unconfirmed(`VLAN ${vlan} created`, out);
      const still = this.uplinksCarrying(after, vlan, false);
      if (still.length > 0) this.unconfirmed(`VLAN ${vlan} on uplinks ${still.join(", ")}`, out);
    });
  }

  async removeVlan(vlan: number, log: CommandLog = noLog): Promise<void> {
    checkVlanId(vlan);
    await this.changing(async () => {
      const state = await this.state();
      if (!state.vlans.includes(vlan)) return;
      // Uplinks carry every VLAN by design: removing one takes it off them too.
      const members = state.ports
        .filter((p) => inVlan(p, vlan) && !p.carriesAll && !this.uplinks.has(p.port))
        .map((p) => p.port);
      if (members.length > 0) {
        throw new HardwareError(
          "VlanInUse",
          `switch ${this.address}: VLAN ${vlan} still has ports ${members.join(", ")}; move or reset them first`,
          {
            transient: false,
          },
        );
      }
      const out = await this.vlanBatch(
        "removeVlan",
        vlan,
        true,
        this.uplinksCarrying(state, vlan, true),
        log,
      );
      if (this.d.parseState(out).vlans.includes(vlan)) this.unconfirmed(`VLAN ${vlan} removed`, out);
    });
  }

  /**
   * The uplinks that carry the VLAN (`carrying`: tagged or not, all of which a removal takes
   * off), or that do not carry it at all (one with it untagged, its native VLAN set by the
   * operator, is not added again: tagged, it would lose that), where the dialect adds VLANs to
   * uplinks one by one.
   */
  private uplinksCarrying(state: SwitchState, vlan: number, carrying: boolean): string[] {
    if (!this.d.uplinks) return [];
    return [...this.uplinks].filter((u) => {
      const p = state.ports.find((x) => x.port === u) ?? { port: u, mode: "none" as const };
      return inVlan(p, vlan) === carrying;
    });
  }

  /** A VLAN made or removed (`own`: the switch's own lines) with the uplinks that carry it. */
  private async vlanBatch(
    name: "ensureVlan" | "removeVlan",
    vlan: number,
    own: boolean,
    uplinks: string[],
    log: CommandLog,
  ): Promise<string> {
    const all = withSession({ vlan });
    const lines = own ? this.linesOf(name, all, undefined) : [];
    const ups = uplinks.flatMap((port) =>
      render(name === "ensureVlan" ? this.d.uplinks!.add : this.d.uplinks!.remove, { ...all, port }),
    );
    // Made before the uplinks carry it; off the uplinks before it goes.
    const change = name === "ensureVlan" ? [...lines, ...ups] : [...ups, ...lines];
    return this.send(change, all, this.d.reads.state, log);
  }

  async setAccess(port: string, vlan: number, log: CommandLog = noLog): Promise<PortConfig> {
    this.checkPort(port);
    checkVlanId(vlan);
    return this.changePort("setAccess", { port, vlan }, (p) => p.mode === "access" && p.vlan === vlan, log);
  }

  async setTrunk(
    port: string,
    trunk: { nativeVlan?: number; allowedVlans: number[] },
    log: CommandLog = noLog,
  ): Promise<PortConfig> {
    this.checkPort(port);
    const allowedVlans = checkVlanList(trunk.allowedVlans);
    const nativeVlan =
      trunk.nativeVlan === undefined ? undefined : checkVlanId(trunk.nativeVlan, "nativeVlan");
    // A trunk carrying only its native VLAN is an access port in that VLAN (or, carrying
    // nothing, no port at all): the switches read it back so, and would never confirm a trunk.
    if (allowedVlans.every((v) => v === nativeVlan)) {
      return nativeVlan === undefined ? this.resetPort(port, log) : this.setAccess(port, nativeVlan, log);
    }
    if (!this.d.changes.setTrunk) {
      throw new HardwareError(
        "SwitchUnsupported",
        `switch ${this.address}: the ${this.d.name} dialect has no trunk ports`,
        {
          transient: false,
        },
      );
    }
    return this.changePort(
      "setTrunk",
      { port, nativeVlan, allowedVlans },
      // A native VLAN listed among the allowed ones travels untagged; compare what the port carries.
      (p) =>
        p.mode === "trunk" &&
        p.nativeVlan === nativeVlan &&
        sameList(carried(p.allowedVlans ?? [], p.nativeVlan), carried(allowedVlans, nativeVlan)),
      log,
    );
  }

  async resetPort(port: string, log: CommandLog = noLog): Promise<PortConfig> {
    this.checkPort(port);
    return this.changePort("resetPort", { port }, (p) => p.mode === "none", log);
  }

  async readPort(port: string): Promise<PortConfig> {
    this.checkPort(port);
    return this.locked(() => this.read(port));
  }

  async listVlans(): Promise<number[]> {
    return (await this.locked(() => this.state())).vlans;
  }

  close(): Promise<void> {
    return this.session.close();
  }

  private checkPort(port: string): void {
    checkPort(port, this.d.port.pattern, this.d.name, this.d.port.example);
  }

  private changePort(
    name: PortChangeName,
    values: ChangeValues & { port: string },
    done: (p: PortConfig) => boolean,
    log: CommandLog,
  ): Promise<PortConfig> {
    // An interactive CLI (EOS) takes one change's lines at a time, as before.
    if ((this.d.transport?.kind ?? "exec") !== "exec")
      return this.changing(() => this.applyOne({ name, values, done, log }));
    return new Promise<PortConfig>((resolve, reject) => {
      this.queued.push({ name, values, done, log, resolve, reject });
      // Every change queues a turn; the first turn takes what has queued by then, and the turns
      // of the changes it took find nothing left.
      void this.lock.run(() => this.drain());
    });
  }

  private async drain(): Promise<void> {
    const batch = this.takeQueued();
    if (batch.length === 0) return;
    let outcomes: Outcome[];
    try {
      // Answered only once the hold is given back: a hold lost meanwhile fails every change in it.
      outcomes = await this.exclusive(() => this.applyQueued(batch));
    } catch (e) {
      for (const c of batch) c.reject(e);
      return;
    }
    batch.forEach((c, i) => {
      const o = outcomes[i]!;
      if ("error" in o) c.reject(o.error);
      else c.resolve(o.port);
    });
  }

  private async applyQueued(batch: PortChange[]): Promise<Outcome[]> {
    if (batch.length > 1) {
      const outcome = await retrying(this.retry, () => this.applyBatch(batch)).catch((e: unknown) => e);
      if (Array.isArray(outcome)) return outcome as Outcome[];
      // Unreachable, or timing out: one at a time would only wait as long again, each.
      if (!(outcome instanceof HardwareError) || outcome.transient) throw outcome;
    }
    const outcomes: Outcome[] = [];
    for (const c of batch) {
      outcomes.push(
        await retrying(this.retry, () => this.applyOne(c)).then(
          (port) => ({ port }),
          (error: unknown) => ({ error }),
        ),
      );
    }
    return outcomes;
  }

  /** The queued changes, oldest first, one per port (a second change to a port waits its turn). */
  private takeQueued(): PortChange[] {
    const taken: PortChange[] = [];
    const ports = new Set<string>();
    this.queued = this.queued.filter((c) => {
      if (taken.length >= MAX_BATCH || ports.has(c.values.port)) return true;
      ports.add(c.values.port);
      taken.push(c);
      return false;
    });
    return taken;
  }

  private async applyOne(c: Pick<PortChange, "name" | "values" | "done" | "log">): Promise<PortConfig> {
    const port = c.values.port;
    const out = await this.batch(c.name, c.values, render(this.d.reads.port, { port }), c.log);
    const after = this.d.parsePort(out, port);
    if (!c.done(after)) this.unconfirmed(`${c.name} on ${port}`, out);
    return after;
  }

  /**
   * Every change's lines, one commit, and the state read that confirms each. Resolves with each
   * change's port as read back, or its own error where the read-back does not show it.
   */
  private async applyBatch(batch: PortChange[]): Promise<Outcome[]> {
    const session = `baremetal-${randomBytes(4).toString("hex")}`;
    const wantsCurrent = batch.some((c) => takesCurrent(this.d.changes[c.name]));
    const before = wantsCurrent ? this.d.parseState(await this.run(this.d.reads.state)) : undefined;
    const commit = render(this.d.commit ?? [], { session });
    const lines = batch.flatMap((c) => {
      const own = this.linesOf(c.name, { ...c.values, session }, portIn(before, c.values.port));
      c.log(this.noted(own, commit));
      return own;
    });
    const out = await this.run(
      [...lines, ...commit, ...this.d.reads.state],
      render(this.d.onFailure ?? [], { session }),
    );
    const after = this.d.parseState(out);
    return batch.map((c) => {
      const port = portIn(after, c.values.port)!;
      return c.done(port)
        ? { port }
        : { error: this.unconfirmedError(`${c.name} on ${c.values.port} (in a batch)`, out) };
    });
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(() => retrying(this.retry, fn));
  }

  /** A change, and the reads it decides on, with the switch held against other processes too. */
  private changing<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(() => this.exclusive(() => retrying(this.retry, fn)));
  }

  private async read(port: string): Promise<PortConfig> {
    return this.d.parsePort(await this.run(render(this.d.reads.port, { port })), port);
  }

  private async state(): Promise<SwitchState> {
    return this.d.parseState(await this.run(this.d.reads.state));
  }

  /** The change's lines, the commit, and a closing read, as one round trip. */
  private async batch(
    name: ChangeName,
    values: ChangeValues,
    closingRead: string[],
    log: CommandLog,
  ): Promise<string> {
    const all = withSession(values);
    const current =
      takesCurrent(this.d.changes[name]) && values.port ? await this.read(values.port) : undefined;
    return this.send(this.linesOf(name, all, current), all, closingRead, log);
  }

  /** Lines of a change, the commit and a closing read, noted for the audit first. */
  private send(change: string[], all: ChangeValues, closingRead: string[], log: CommandLog): Promise<string> {
    const commit = render(this.d.commit ?? [], all);
    log(this.noted(change, commit));
    return this.run([...change, ...commit, ...closingRead], render(this.d.onFailure ?? [], all));
  }

  /** For the audit of the operation that asked: a change's lines and the commit after them. */
  private noted(lines: string[], commit: string[]): string {
    return `switch ${this.address}: ${[...lines, ...commit].join("; ")}`;
  }

  /** A change's own lines; `current` is the port as it is now, for templates that ask for it. */
  private linesOf(name: ChangeName, values: ChangeValues, current: PortConfig | undefined): string[] {
    const template = this.d.changes[name] as Template;
    return typeof template === "function"
      ? template(values, current ?? { port: values.port ?? "", mode: "none" })
      : render(template, values);
  }

  private async run(lines: string[], onFailure: string[] = []): Promise<string> {
    const patterns = this.d.failurePatterns ?? [];
    const transport = this.d.transport ?? { kind: "exec" };
    const result =
      transport.kind === "shell"
        ? await this.session.shell([...(this.d.setup ?? []), ...lines], {
            prompt: transport.prompt,
            failed: patterns,
            onFailure,
          })
        : await this.session
            .exec(this.d.join([...(this.d.setup ?? []), ...lines]), lines.length)
            .catch(async (e: unknown) => {
              // Gone mid-batch: what it staged is discarded on a new connection (best effort)
              // before the batch runs again, as after a failed one.
              if (e instanceof ConnectionLost && onFailure.length > 0) {
                await this.session.exec(this.d.join(onFailure)).catch(() => undefined);
              }
              throw e;
            });
    const failed = result.code !== 0 || patterns.some((re) => re.test(`${result.stdout}\n${result.stderr}`));
    if (!failed) return result.stdout;
    if (transport.kind === "exec" && onFailure.length > 0) {
      // Best effort: the failure we report matters more than one in the cleanup.
      await this.session.exec(this.d.join(onFailure)).catch(() => undefined);
    }
    throw this.failure(lines, result);
  }

  private failure(lines: string[], r: ExecResult): HardwareError {
    const output = `${r.stderr}\n${r.stdout}`.trim();
    const match = this.d.errors.find((e) => e.pattern.test(output));
    const text = output.replace(/\s+/g, " ").slice(0, 400);
    const what = lines.length === 1 ? `"${lines[0]}"` : `a batch of ${lines.length} commands`;
    return new HardwareError(
      match?.code ?? "SwitchCommandFailed",
      `switch ${this.address} (${this.d.name}): ${what} failed (exit ${r.code ?? "none"}): ${text}`,
      {
        transient: match ? undefined : false,
      },
    );
  }

  private readable<T>(parse: () => T): T {
    try {
      return parse();
    } catch (e) {
      const message = `switch ${this.address} (${this.d.name}): ${(e as Error).message}`;
      if (e instanceof HardwareError) throw new HardwareError(e.code, message, { transient: e.transient });
      throw new HardwareError("SwitchUnsupported", `${message}; its answer could not be read`, {
        transient: false,
      });
    }
  }

  private unconfirmed(what: string, out: string): never {
    throw this.unconfirmedError(what, out);
  }

  private unconfirmedError(what: string, out: string): HardwareError {
    return new HardwareError(
      "SwitchCommandFailed",
      `switch ${this.address} (${this.d.name}): ${what} was not confirmed by the read-back: ${out.slice(-300)}`,
      {
        transient: false,
      },
    );
  }
}

/** A template taking two parameters wants the port's current config: one read before. */
const takesCurrent = (template: Template | undefined) =>
  typeof template === "function" && template.length >= 2;

/** A port as a state read shows it; a port the read does not list carries nothing. */
const portIn = (state: SwitchState | undefined, port: string): PortConfig | undefined =>
  state && (state.ports.find((p) => p.port === port) ?? { port, mode: "none" });

/** A change's values with a name for its configuration session, where the dialect uses one. */
const withSession = (values: ChangeValues): ChangeValues => ({
  ...values,
  session: `baremetal-${randomBytes(4).toString("hex")}`,
});

const inVlan = (p: PortConfig, vlan: number) =>
  p.vlan === vlan || p.nativeVlan === vlan || (p.allowedVlans ?? []).includes(vlan);

const carried = (allowed: number[], native?: number) =>
  [...new Set([...allowed, ...(native === undefined ? [] : [native])])].sort((a, b) => a - b);

const sameList = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
