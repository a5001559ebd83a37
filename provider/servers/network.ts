// A server's network mode on its switch ports, once it is installed (installs and wipes always
// run on the provisioning VLAN):
//   layer3: access to the facility's layer-3 network (its layer3Vlan, else the provisioning VLAN);
//   hybrid: a trunk, the layer-3 network untagged and the server's VLANs tagged;
//   layer2: one VLAN as access, or a trunk of the VLANs (nativeVlan untagged); none: no VLAN.
// Each VLAN must be a Vlan of the server's project in its facility. The store records which
// ports carry which VLAN (a Vlan is not deleted while any does); a change records the VLANs it
// adds before the switch carries them and forgets the ones it drops only after the switch
// stopped carrying them, so the store never under-reports a port.
import type { FacilitySpec, MachineRecord } from "../inventory/types";
import { listVlans, attachPort, detachPort, vlanPorts, type VlanPort } from "../store/vlans-sql";
import type { ServerInputs } from "./inputs";
import { setPorts, type PortPlan, type PortState } from "./ports";
import type { Context } from "./lifecycle";

type NetworkInputs = Pick<ServerInputs, "networkType" | "vlans" | "nativeVlan" | "project" | "facility">;

/**
 * The VLAN of the facility's layer-3 network. One of its own keeps installed servers off the
 * provisioning VLAN, where the boot server hands out whatever a machine's MAC asks for.
 */
export const layer3Vlan = (f: FacilitySpec): number => f.layer3Vlan ?? f.provisioningVlan;

/** The port configuration a network mode asks for. */
export function portPlan(n: NetworkInputs, layer3Vlan: number): PortPlan {
  if (n.networkType === "layer3" || (n.networkType === "hybrid" && n.vlans.length === 0)) {
    return { mode: "access", vlan: layer3Vlan };
  }
  if (n.networkType === "hybrid") {
    return { mode: "trunk", nativeVlan: layer3Vlan, allowedVlans: [...n.vlans].sort((a, b) => a - b) };
  }
  if (n.vlans.length === 0) return { mode: "none" };
  const tagged = n.vlans.filter((v) => v !== n.nativeVlan).sort((a, b) => a - b);
  // One VLAN, untagged, whether or not it is named native: an access port (a trunk carrying
  // only its native VLAN reads back as one).
  if (n.nativeVlan === undefined && n.vlans.length === 1) return { mode: "access", vlan: n.vlans[0]! };
  if (n.nativeVlan !== undefined && tagged.length === 0) return { mode: "access", vlan: n.nativeVlan };
  return { mode: "trunk", nativeVlan: n.nativeVlan, allowedVlans: tagged };
}

/** How the plan carries each of the server's VLANs (the layer-3 network is not a Vlan). */
function carried(plan: PortPlan, vlans: number[]): Map<number, VlanPort["mode"]> {
  const modes = new Map<number, VlanPort["mode"]>();
  for (const vid of vlans) {
    if (plan.mode === "access" && plan.vlan === vid) modes.set(vid, "access");
    else if (plan.mode === "trunk" && plan.nativeVlan === vid) modes.set(vid, "native");
    else if (plan.mode === "trunk" && plan.allowedVlans.includes(vid)) modes.set(vid, "tagged");
  }
  return modes;
}

/**
 * The server's VLANs as the store has them, by VLAN id; refuses one that is not a Vlan of its
 * project in its facility. Create and reinstall ask first, before a machine is claimed or
 * touched: found missing only at the end, a typo cost a whole install.
 */
export function* serverVlans(n: NetworkInputs) {
  const vlans = yield* listVlans({ project: n.project, facility: n.facility });
  const byVid = new Map(vlans.map((v) => [v.vid, v]));
  const missing = n.vlans.filter((vid) => !byVid.has(vid));
  if (missing.length > 0) {
    throw new Error(
      `vlans: ${missing.join(", ")} ${missing.length === 1 ? "is not a Vlan" : "are not Vlans"} of project ${n.project} in facility ${n.facility}` +
        ` (it has ${vlans.map((v) => v.vid).join(", ") || "none"})`,
    );
  }
  return byVid;
}

/** Puts the machine's ports into the server's network mode; returns what the switches read back. */
export async function applyNetwork(
  ctx: Context,
  serverId: string,
  machine: MachineRecord,
  n: NetworkInputs,
  layer3Vlan: number,
): Promise<PortState[]> {
  const actor = ctx.config.actor;
  // A layer3 server (most of them, moved off the provisioning VLAN after every install) has no
  // Vlan to look up or record: no store transaction for nothing.
  const byVid =
    n.vlans.length === 0 ? new Map<number, never>() : await ctx.store.transact(() => serverVlans(n), "read");
  const plan = portPlan(n, layer3Vlan);
  const want = carried(plan, n.vlans);
  const before = await ctx.store.transact(() => vlanPorts({ serverId }), "read");
  // Added first: a Vlan being deleted meanwhile sees the port before the switch carries it.
  if (want.size > 0)
    await ctx.store.transact(function* (at) {
      for (const nic of machine.nics) {
        for (const [vid, mode] of want) {
          yield* attachPort(
            {
              vlanId: byVid.get(vid)!.id,
              serverId,
              machineId: machine.id,
              nic: nic.name,
              switch: nic.switch,
              port: nic.port,
              mode,
            },
            actor,
            at,
          );
        }
      }
    });
  let states: PortState[];
  const changed = new Set<string>();
  try {
    states = await setPorts(ctx, machine, plan, changed);
  } catch (e) {
    // A port whose switch did not take it: forget the VLANs this change added there (the old
    // ones stay). A port that took it keeps them: its switch carries them now.
    const had = new Set(before.map((p) => p.vid));
    await ctx.store.transact(function* (at) {
      for (const nic of machine.nics.filter((x) => !changed.has(x.name))) {
        for (const vid of want.keys()) {
          if (!had.has(vid)) yield* detachPort(byVid.get(vid)!.id, nic.switch, nic.port, actor, at);
        }
      }
    });
    throw e;
  }
  const dropped = before.filter((p) => !want.has(p.vid));
  if (dropped.length > 0) {
    await ctx.store.transact(function* (at) {
      for (const p of dropped) yield* detachPort(p.vlanId, p.switch, p.port, actor, at);
    });
  }
  return states;
}

/** Forgets every VLAN the server's ports carried (after the ports were reset). */
export async function forgetNetwork(ctx: Context, serverId: string): Promise<void> {
  const actor = ctx.config.actor;
  const ports = await ctx.store.transact(() => vlanPorts({ serverId }), "read");
  if (ports.length === 0) return;
  await ctx.store.transact(function* (at) {
    for (const p of ports) yield* detachPort(p.vlanId, p.switch, p.port, actor, at);
  });
}
