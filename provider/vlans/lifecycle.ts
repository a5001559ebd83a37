// How a Vlan is made and taken apart: the id is taken in the store first (the database keeps
// it unique per facility), then the VLAN is put on every switch of the facility. A failure on
// any switch takes it off the switches it was added to and gives the id back. Delete refuses
// while ports carry the VLAN, naming them, unless forced: then each port is detached on its
// switch (an access port goes back to no VLAN, a trunk loses just this VLAN) before the VLAN
// goes from the switches and the id is released.
import type { Operation } from "../access/guard";
import type { CommandLog } from "../hardware/commands";
import type { PortConfig, Switch } from "../hardware/switch";
import { facilitySwitches } from "../store/inventory-sql";
import {
  createVlan,
  deleteVlan,
  detachPort,
  readVlan,
  vlanInUse,
  vlanPorts,
  vlansOfOwner,
  type VlanPort,
  type VlanRecord,
  type VlanRequest,
} from "../store/vlans-sql";
import { secretsOf, switchFor } from "../servers/hardware";

/** What the lifecycle runs with: the operation `guarded` hands a change. */
export type Context = Operation;

async function facilitySwitchDrivers(
  ctx: Omit<Context, "log">,
  facility: string,
): Promise<{ name: string; sw: Switch }[]> {
  const specs = await ctx.store.transact(() => facilitySwitches(facility), "read");
  return specs.map((spec) => ({ name: spec.name, sw: switchFor(spec, secretsOf(ctx.config), ctx.store) }));
}

export async function createVlanEverywhere(
  ctx: Context,
  req: VlanRequest,
): Promise<{ vlan: VlanRecord; switches: string[] }> {
  const actor = ctx.config.actor;
  await cleanUpLeftovers(ctx, req);
  const { vlan, adopted } = await ctx.store.transact((at) => createVlan(req, actor, at));
  let switches: { name: string; sw: Switch }[];
  const added: { name: string; sw: Switch }[] = [];
  let current = "";
  try {
    // Inside the undo: a switch whose credentials are missing must not keep the id taken.
    switches = await facilitySwitchDrivers(ctx, vlan.facility);
    for (const s of switches) {
      current = s.name;
      const had = (await s.sw.listVlans()).includes(vlan.vid);
      // Counted as added before it is asked for: a switch that made the VLAN but failed to
      // confirm it (a timeout, a lost read-back) must lose it too, or the next Vlan given
      // this id would find it there and take it as it stands.
      if (!had) added.push(s);
      await s.sw.ensureVlan(vlan.vid, ctx.log);
    }
  } catch (e) {
    let message = `VLAN ${vlan.vid}: could not create it${current ? ` on switch ${current}` : ""}: ${(e as Error).message}`;
    for (const s of added.reverse()) {
      await s.sw.removeVlan(vlan.vid, ctx.log).catch((undo: Error) => {
        message += `; then could not remove it from switch ${s.name}: ${undo.message}`;
      });
    }
    // An adopted VLAN belongs to a resource the engine may still know; keep its id.
    if (!adopted) await ctx.store.transact((at) => deleteVlan(vlan.id, actor, at));
    throw new Error(message, { cause: e });
  }
  return { vlan, switches: switches.map((s) => s.name) };
}

/**
 * A Vlan is replaced by deleting it first (resources/vlan.ts), so a row its owner key already
 * holds was left by a create that never finished: one that matches the request is adopted by
 * createVlan; any other (the program changed vid, project or facility since) is taken off the
 * switches and its id given back here. No server can be on it: none ever saw its id.
 */
async function cleanUpLeftovers(ctx: Context, req: VlanRequest): Promise<void> {
  if (req.owner === null) return;
  const held = await ctx.store.transact(() => vlansOfOwner(req.owner!), "read");
  const stale = held.filter(
    (v) =>
      v.project !== req.project ||
      v.facility !== req.facility ||
      (req.vid !== undefined && v.vid !== req.vid),
  );
  for (const v of stale) {
    try {
      await deleteVlanEverywhere(ctx, v.id, false);
    } catch (e) {
      throw new Error(
        `VLAN ${v.vid} in facility ${v.facility}, left by an earlier create of this Vlan that did not finish, could not be removed: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
}

/** The port's configuration without `vid`: an access port or a trunk left with nothing gets none. */
function withoutVlan(p: PortConfig, vid: number): PortConfig {
  if (p.mode === "access") return p.vlan === vid ? { port: p.port, mode: "none" } : p;
  if (p.mode !== "trunk") return p;
  const allowed = (p.allowedVlans ?? []).filter((v) => v !== vid);
  const nativeVlan = p.nativeVlan === vid ? undefined : p.nativeVlan;
  if (allowed.length === 0 && nativeVlan === undefined) return { port: p.port, mode: "none" };
  // Left with only its native VLAN, the driver makes it an access port there.
  return { port: p.port, mode: "trunk", nativeVlan, allowedVlans: allowed };
}

async function detach(sw: Switch, port: VlanPort, log: CommandLog): Promise<void> {
  const now = await sw.readPort(port.port);
  const next = withoutVlan(now, port.vid);
  if (next.mode === "none" && now.mode !== "none") await sw.resetPort(port.port, log);
  else if (next.mode === "trunk" && JSON.stringify(next) !== JSON.stringify(now)) {
    await sw.setTrunk(port.port, { nativeVlan: next.nativeVlan, allowedVlans: next.allowedVlans ?? [] }, log);
  }
}

export async function deleteVlanEverywhere(ctx: Context, id: string, force: boolean): Promise<void> {
  const actor = ctx.config.actor;
  const vlan = await ctx.store.transact(() => readVlan(id), "read");
  if (!vlan) return;
  const switches = await facilitySwitchDrivers(ctx, vlan.facility);
  const byName = new Map(switches.map((s) => [s.name, s.sw]));
  const ports = await ctx.store.transact(() => vlanPorts({ vlanId: id }), "read");
  if (ports.length > 0 && !force) throw vlanInUse(vlan, ports);
  for (const p of ports) {
    const sw = byName.get(p.switch);
    if (sw) await detach(sw, p, ctx.log);
    await ctx.store.transact((at) => detachPort(id, p.switch, p.port, actor, at));
  }
  // A switch still holding ports in the VLAN (set by hand, not through us) refuses, naming them.
  for (const s of switches) await s.sw.removeVlan(vlan.vid, ctx.log);
  await ctx.store.transact((at) => deleteVlan(id, actor, at));
}

/** The VLAN as the store and the switches see it now; undefined when the store has no such VLAN. */
export async function readVlanEverywhere(
  ctx: Omit<Context, "log">,
  id: string,
): Promise<{ vlan: VlanRecord; switches: string[]; ports: VlanPort[] } | undefined> {
  const vlan = await ctx.store.transact(() => readVlan(id), "read");
  if (!vlan) return undefined;
  const present: string[] = [];
  for (const s of await facilitySwitchDrivers(ctx, vlan.facility)) {
    if ((await s.sw.listVlans()).includes(vlan.vid)) present.push(s.name);
  }
  const ports = await ctx.store.transact(() => vlanPorts({ vlanId: id }), "read");
  return { vlan, switches: present, ports };
}
