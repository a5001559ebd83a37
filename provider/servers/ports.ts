// A machine's switch ports: put every NIC's port into one configuration (access to a VLAN, a
// trunk, or nothing), read them, reset them. Each change is read back by the switch in the
// same round trip, and what it read is what the caller reports.
import type { Operation } from "../access/guard";
import { isHardwareError } from "../hardware/errors";
import type { PortConfig, Switch } from "../hardware/switch";
import type { MachineRecord } from "../inventory/types";
import { readSwitch } from "../store/inventory-sql";
import { secretsOf, switchFor } from "./hardware";

type Context = Operation;

export interface PortState {
  nic: string;
  switch: string;
  port: string;
  /** The access VLAN the switch reports; absent when the port has none (or is a trunk). */
  vlan?: number;
  /** trunk: the untagged VLAN, if any. */
  nativeVlan?: number;
  /** trunk: the tagged VLANs, ascending. */
  allowedVlans?: number[];
  mode: "access" | "trunk" | "none" | "unknown";
}

/** What every NIC's port should be. */
export type PortPlan =
  | { mode: "access"; vlan: number }
  | { mode: "trunk"; nativeVlan?: number; allowedVlans: number[] }
  | { mode: "none" };

async function machineSwitchPorts(ctx: Omit<Context, "log">, machine: MachineRecord) {
  return Promise.all(
    machine.nics.map(async (n) => {
      const spec = await ctx.store.transact(() => readSwitch(n.switch), "read");
      if (!spec)
        throw new Error(`switch ${n.switch} (cabled to ${machine.id} ${n.name}) is not in the inventory`);
      return { nic: n, sw: switchFor(spec, secretsOf(ctx.config), ctx.store) };
    }),
  );
}

function toState(nic: { name: string; switch: string; port: string }, p: PortConfig): PortState {
  const base = { nic: nic.name, switch: nic.switch, port: nic.port };
  if (p.mode === "access") return { ...base, mode: "access", vlan: p.vlan };
  if (p.mode === "trunk") {
    return {
      ...base,
      mode: "trunk",
      ...(p.nativeVlan === undefined ? {} : { nativeVlan: p.nativeVlan }),
      allowedVlans: p.allowedVlans ?? [],
    };
  }
  return { ...base, mode: "none" };
}

// VLANs this process has seen on each switch. ensureVlan reads the switch's whole state, which
// grows with its ports; once per switch and VLAN is enough, and a VLAN someone removed since
// shows up as VlanNotFound on the port change, which ensures it again.
const ensured = new Set<string>();

const vlansOf = (plan: PortPlan) =>
  plan.mode === "access"
    ? [plan.vlan]
    : plan.mode === "trunk"
      ? [...(plan.nativeVlan === undefined ? [] : [plan.nativeVlan]), ...plan.allowedVlans]
      : [];

/**
 * Puts every NIC's port into `plan`, one after another; returns what each switch read back in
 * the same round trip. `changed` gets each NIC whose switch took the change, so a caller can
 * tell, after a failure partway, which ports now carry what.
 */
export async function setPorts(
  ctx: Context,
  machine: MachineRecord,
  plan: PortPlan,
  changed: Set<string> = new Set(),
): Promise<PortState[]> {
  const states: PortState[] = [];
  for (const { nic, sw } of await machineSwitchPorts(ctx, machine)) {
    const ensure = async (all: boolean) => {
      for (const vlan of vlansOf(plan)) {
        const key = `${nic.switch}\u0000${vlan}`;
        if (!all && ensured.has(key)) continue;
        await sw.ensureVlan(vlan, ctx.log);
        ensured.add(key);
      }
    };
    const change = (s: Switch) =>
      plan.mode === "access"
        ? s.setAccess(nic.port, plan.vlan, ctx.log)
        : plan.mode === "trunk"
          ? s.setTrunk(nic.port, { nativeVlan: plan.nativeVlan, allowedVlans: plan.allowedVlans }, ctx.log)
          : s.resetPort(nic.port, ctx.log);
    await ensure(false);
    let read: PortConfig;
    try {
      read = await change(sw);
    } catch (e) {
      if (!isHardwareError(e, "VlanNotFound")) throw e;
      await ensure(true);
      read = await change(sw);
    }
    changed.add(nic.name);
    states.push(toState(nic, read));
  }
  return states;
}

/** Puts every NIC's port on `vlan` (access). */
export const portsTo = (ctx: Context, machine: MachineRecord, vlan: number) =>
  setPorts(ctx, machine, { mode: "access", vlan });

/** What each of the machine's switch ports holds now, as the switches say. */
export async function readPorts(ctx: Omit<Context, "log">, machine: MachineRecord): Promise<PortState[]> {
  const ports = await machineSwitchPorts(ctx, machine);
  return Promise.all(
    ports.map(async ({ nic, sw }): Promise<PortState> => {
      try {
        return toState(nic, await sw.readPort(nic.port));
      } catch {
        return { nic: nic.name, switch: nic.switch, port: nic.port, mode: "unknown" };
      }
    }),
  );
}

export async function resetPorts(ctx: Context, machine: MachineRecord): Promise<void> {
  for (const { nic, sw } of await machineSwitchPorts(ctx, machine)) await sw.resetPort(nic.port, ctx.log);
}
