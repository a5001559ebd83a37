// Runs any dialect over one pinned SSH session per switch. Each change is one batch: the
// change's lines, the dialect's commit lines, then a read of what changed, so the result is
// confirmed by the switch in the same round trip. Failed batches are worded by the dialect's
// error patterns; transient failures (connection lost, timeout) are retried up to a bound.
import { noteCommand } from "../commands";
import { randomBytes } from "node:crypto";
import { HardwareError } from "../errors";
import { retrying, DEFAULT_RETRY, type RetryPolicy } from "../timing";
import { render, type ChangeValues, type Dialect, type SwitchState, type Template } from "./dialect";
import { Lock, SshSession, type ExecResult, type SshEndpoint, type SwitchTransport } from "./ssh";
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

export class Switch implements SwitchDriver {
  readonly address: string;
  readonly dialect: string;
  private readonly session: SwitchTransport;
  private readonly lock = new Lock();
  private readonly retry: RetryPolicy;
  private readonly uplinks: Set<string>;
  private readonly exclusive: <T>(change: () => Promise<T>) => Promise<T>;

  constructor(
    endpoint: SshEndpoint | SwitchTransport,
    private readonly d: Dialect,
    options: SwitchOptions = {},
  ) {
    this.session =
      "exec" in endpoint ? endpoint : new SshSession(endpoint, options.commandTimeoutMs ?? 15_000);
    this.address = this.session.address;
    this.dialect = d.name;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.uplinks = new Set(options.uplinks ?? []);
    this.exclusive = options.exclusive ?? ((change) => change());
  }

  async ensureVlan(vlan: number): Promise<void> {
    checkVlanId(vlan);
    await this.changing(async () => {
      if ((await this.state()).vlans.includes(vlan)) return;
      const out = await this.batch("ensureVlan", { vlan }, this.d.reads.state);
      if (!this.d.parseState(out).vlans.includes(vlan)) this.unconfirmed(`VLAN ${vlan} created`, out);
    });
  }

  async removeVlan(vlan: number): Promise<void> {
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
      const out = await this.batch("removeVlan", { vlan }, this.d.reads.state);
      if (this.d.parseState(out).vlans.includes(vlan)) this.unconfirmed(`VLAN ${vlan} removed`, out);
    });
  }

  async setAccess(port: string, vlan: number): Promise<PortConfig> {
    this.checkPort(port);
    checkVlanId(vlan);
    return this.changePort("setAccess", { port, vlan }, (p) => p.mode === "access" && p.vlan === vlan);
  }

  async setTrunk(port: string, trunk: { nativeVlan?: number; allowedVlans: number[] }): Promise<PortConfig> {
    this.checkPort(port);
    const allowedVlans = checkVlanList(trunk.allowedVlans);
    const nativeVlan =
      trunk.nativeVlan === undefined ? undefined : checkVlanId(trunk.nativeVlan, "nativeVlan");
    // A trunk carrying only its native VLAN is an access port in that VLAN (or, carrying
    // nothing, no port at all): the switches read it back so, and would never confirm a trunk.
    if (allowedVlans.every((v) => v === nativeVlan)) {
      return nativeVlan === undefined ? this.resetPort(port) : this.setAccess(port, nativeVlan);
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
    );
  }

  async resetPort(port: string): Promise<PortConfig> {
    this.checkPort(port);
    return this.changePort("resetPort", { port }, (p) => p.mode === "none");
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
    name: ChangeName,
    values: ChangeValues,
    done: (p: PortConfig) => boolean,
  ): Promise<PortConfig> {
    return this.changing(async () => {
      const port = values.port!;
      const out = await this.batch(name, values, render(this.d.reads.port, { port }));
      const after = this.d.parsePort(out, port);
      if (!done(after)) this.unconfirmed(`${name} on ${port}`, out);
      return after;
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
  private async batch(name: ChangeName, values: ChangeValues, closingRead: string[]): Promise<string> {
    const template = this.d.changes[name] as Template;
    const all = { ...values, session: `baremetal-${randomBytes(4).toString("hex")}` };
    // A template taking two parameters wants the port's current config: one read before.
    const current = typeof template === "function" && template.length >= 2 && values.port;
    const lines =
      typeof template === "function"
        ? template(all, current ? await this.read(values.port!) : { port: values.port ?? "", mode: "none" })
        : render(template, all);
    const commit = render(this.d.commit ?? [], all);
    noteCommand(`switch ${this.address}: ${[...lines, ...commit].join("; ")}`);
    return this.run([...lines, ...commit, ...closingRead], render(this.d.onFailure ?? [], all));
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
        : await this.session.exec(this.d.join([...(this.d.setup ?? []), ...lines]));
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

  private unconfirmed(what: string, out: string): never {
    throw new HardwareError(
      "SwitchCommandFailed",
      `switch ${this.address} (${this.d.name}): ${what} was not confirmed by the read-back: ${out.slice(-300)}`,
      {
        transient: false,
      },
    );
  }
}

const inVlan = (p: PortConfig, vlan: number) =>
  p.vlan === vlan || p.nativeVlan === vlan || (p.allowedVlans ?? []).includes(vlan);

const carried = (allowed: number[], native?: number) =>
  [...new Set([...allowed, ...(native === undefined ? [] : [native])])].sort((a, b) => a - b);

const sameList = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
