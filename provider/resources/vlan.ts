// Vlan: a project's VLAN in a facility, its id taken from the facility's range (or the one
// asked for) and put on every switch of the facility. Description and tags change in place;
// another facility, project or id replaces it. The steps live in vlans/lifecycle.ts.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { descriptionField, nameField, tagsField } from "./fields";
import { providerConfig, storeFor } from "../runtime";
import { updateVlan, type VlanPort, type VlanRecord } from "../store/vlans-sql";
import { createVlanEverywhere, deleteVlanEverywhere, readVlanEverywhere } from "../vlans/lifecycle";
import { authorize } from "../access/authorize";
import { guarded } from "../access/guard";
import { checkWith, type CheckResult } from "./check";

export const VlanInputs = z.strictObject({
  project: nameField("project"),
  facility: nameField("facility"),
  vid: z
    .number({ error: "vid must be a number" })
    .int("vid must be a whole number")
    .min(2, "vid must be 2-4094 (1 is the default VLAN of every switch)")
    .max(4094, "vid must be 2-4094")
    .optional(),
  description: descriptionField,
  tags: tagsField,
  /** Delete detaches the ports still carrying the VLAN instead of refusing. */
  forceDelete: z.boolean({ error: "forceDelete must be true or false" }).default(false),
  /** Set by the sdk: `<organization>/<project>/<stack>/<resource name>`. */
  owner: z.string().optional(),
});
export type VlanInputs = z.output<typeof VlanInputs>;

export interface VlanOutputs extends VlanInputs {
  vid: number;
  /** The facility's switches that have the VLAN, as they said at the last create or refresh. */
  switches: string[];
  /** Switch ports carrying the VLAN: which machine, and whether access, native or tagged. */
  ports: { switch: string; port: string; machine: string; mode: VlanPort["mode"] }[];
}

const REPLACE_ON = ["project", "facility"] as const;

function outputs(inputs: VlanInputs, v: VlanRecord, switches: string[], ports: VlanPort[]): VlanOutputs {
  const out: VlanOutputs = {
    ...inputs,
    project: v.project,
    facility: v.facility,
    vid: v.vid,
    tags: v.tags,
    switches,
    ports: ports.map((p) => ({ switch: p.switch, port: p.port, machine: p.machineId, mode: p.mode })),
  };
  if (v.description !== null) out.description = v.description;
  else delete out.description;
  return out;
}

const context = async () => {
  const config = providerConfig();
  return { config, store: await storeFor(config) };
};

export async function check(_olds: unknown, news: Record<string, unknown>): Promise<CheckResult<VlanInputs>> {
  return checkWith(VlanInputs, news);
}

export async function diff(
  _id: string,
  olds: VlanOutputs,
  news: VlanInputs,
): Promise<{ changes: boolean; replaces: string[]; deleteBeforeReplace: boolean }> {
  const replaces: string[] = REPLACE_ON.filter((k) => olds[k] !== news[k]);
  // Without a vid any id will do: the one held stays.
  if (news.vid !== undefined && news.vid !== olds.vid) replaces.push("vid");
  const inPlace =
    JSON.stringify(olds.tags ?? []) !== JSON.stringify(news.tags ?? []) ||
    (olds.description ?? null) !== (news.description ?? null) ||
    (olds.forceDelete ?? false) !== news.forceDelete;
  // Deleted first, as a Server is: a replacement may want the id this one holds (the same vid),
  // and a create finding its owner's row adopts it. Created first, the new resource adopted the
  // old row and the old one's delete then took the VLAN away. (`pulumi up --replace` asks no
  // diff: the sdk's deleteBeforeReplace option covers it.)
  return { changes: replaces.length > 0 || inPlace, replaces, deleteBeforeReplace: true };
}

const mutation = (i: VlanInputs) => ({
  kind: "Vlan",
  project: i.project,
  owner: i.owner ?? null,
  permission: "vlan.write" as const,
});

export async function create(inputs: VlanInputs): Promise<{ id: string; outs: VlanOutputs }> {
  const ctx = await context();
  const { vlan, switches } = await guarded(
    ctx,
    { ...mutation(inputs), action: "create" },
    (op) =>
      createVlanEverywhere(op, {
        id: randomUUID(),
        owner: inputs.owner ?? null,
        project: inputs.project,
        facility: inputs.facility,
        vid: inputs.vid,
        description: inputs.description ?? null,
        tags: inputs.tags,
      }),
    (r) => ({ id: r.vlan.id, after: r }),
  );
  return { id: vlan.id, outs: outputs(inputs, vlan, switches, []) };
}

export async function read(id: string, props: VlanOutputs): Promise<{ id: string; props?: VlanOutputs }> {
  const ctx = await context();
  await authorize(ctx.store, ctx.config.actor, props.project, "read");
  const found = await readVlanEverywhere(ctx, id);
  // An empty id tells the engine the VLAN is gone.
  if (!found) return { id: "" };
  return { id, props: outputs(props, found.vlan, found.switches, found.ports) };
}

export async function update(
  id: string,
  olds: VlanOutputs,
  news: VlanInputs,
): Promise<{ outs: VlanOutputs }> {
  const ctx = await context();
  const vlan = await guarded(
    ctx,
    { ...mutation(news), action: "update", id, before: olds },
    () =>
      ctx.store.transact((at) =>
        updateVlan(id, { description: news.description ?? null, tags: news.tags }, ctx.config.actor, at),
      ),
    (v) => ({ id, after: v }),
  );
  return { outs: { ...outputs(news, vlan, olds.switches, []), ports: olds.ports } };
}

export async function remove(id: string, props: VlanOutputs): Promise<void> {
  // Already gone is fine: delete must be safe to repeat after an interrupted run.
  const ctx = await context();
  await guarded(
    ctx,
    { ...mutation(props), action: "delete", id, before: props },
    (op) => deleteVlanEverywhere(op, id, props.forceDelete ?? false),
    () => ({ id, after: null }),
  );
}
