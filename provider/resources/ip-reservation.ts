// IpReservation: an aligned block of addresses reserved for a project from the pools of a
// facility (or the global pool). Tags and description change in place; anything that would
// change the block replaces it.
import { z } from "zod";
import { descriptionField, nameField, tagsField } from "./fields";
import { describeBlock } from "../ipam/addresses";
import { formatCidr, isPowerOfTwo, parseCidr, prefixForQuantity } from "../ipam/cidr";
import { providerConfig, storeFor } from "../runtime";
import { POOL_TYPES, poolTypeFamily, type BlockRequest, type Reservation } from "../store/store";
import { authorize } from "../access/authorize";
import { guarded } from "../access/guard";
import { checkWith, type CheckResult } from "./check";

export const IpReservationInputs = z
  .strictObject({
    project: nameField("project"),
    type: z.enum(POOL_TYPES, { error: `type must be one of ${POOL_TYPES.join(", ")}` }),
    facility: nameField("facility").optional(),
    quantity: z
      .number({ error: (i) => (i.code === "invalid_type" ? "quantity must be a number" : undefined) })
      .int({
        error: (issue) =>
          issue.code === "too_big" || issue.code === "too_small"
            ? `quantity ${String(issue.input)} is too large to be exact; ask for a block that size by prefixLength`
            : "quantity must be a whole number",
      })
      .positive("quantity must be at least 1")
      .refine(isPowerOfTwo, {
        error: (issue) => `quantity must be a power of two (1, 2, 4, 8, 16, ...), not ${String(issue.input)}`,
      })
      .optional(),
    prefixLength: z
      .number({ error: (i) => (i.code === "invalid_type" ? "prefixLength must be a number" : undefined) })
      .int("prefixLength must be a whole number")
      .min(0, "prefixLength must be 0 or more")
      .optional(),
    cidr: z.string({ error: "cidr must be a string like 10.0.0.0/29" }).optional(),
    tags: tagsField,
    description: descriptionField,
    /** Set by the sdk: `<organization>/<project>/<stack>/<resource name>`. */
    owner: z.string().optional(),
  })
  .superRefine((v, ctx) => {
    const given = (["quantity", "prefixLength", "cidr"] as const).filter((k) => v[k] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: "custom",
        path: [given[1] ?? "quantity"],
        message:
          given.length === 0
            ? "give exactly one of quantity, prefixLength or cidr"
            : `give only one of quantity, prefixLength or cidr, not ${given.join(" and ")}`,
      });
    }
    if (v.type === "global_ipv4" && v.facility !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["facility"],
        message: "a global_ipv4 reservation has no facility",
      });
    }
    if (v.type !== "global_ipv4" && v.facility === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["facility"],
        message: `a ${v.type} reservation needs a facility`,
      });
    }
    const family = poolTypeFamily(v.type);
    const bits = family === 4 ? 32 : 128;
    if (v.prefixLength !== undefined && v.prefixLength > bits) {
      ctx.addIssue({
        code: "custom",
        path: ["prefixLength"],
        message: `prefixLength ${v.prefixLength} is longer than IPv${family} allows (0-${bits})`,
      });
    }
    if (v.quantity !== undefined && Math.log2(v.quantity) > bits) {
      ctx.addIssue({
        code: "custom",
        path: ["quantity"],
        message: `quantity is larger than IPv${family} has`,
      });
    }
    if (v.cidr !== undefined) {
      try {
        const block = parseCidr(v.cidr);
        if (block.family !== family) {
          ctx.addIssue({
            code: "custom",
            path: ["cidr"],
            message: `${v.cidr} is IPv${block.family}, but type ${v.type} holds IPv${family}`,
          });
        }
      } catch (e) {
        ctx.addIssue({ code: "custom", path: ["cidr"], message: (e as Error).message });
      }
    }
  });

export type IpReservationInputs = z.output<typeof IpReservationInputs>;

export interface IpReservationOutputs extends IpReservationInputs {
  pool: string;
  cidr: string;
  network: string;
  netmask: string;
  gateway?: string;
  broadcast?: string;
  prefixLength: number;
  family: 4 | 6;
  size: string;
  addresses?: string[];
  public: boolean;
  global: boolean;
}

const REPLACE_ON = ["project", "type", "facility"] as const;

function blockRequest(inputs: IpReservationInputs): BlockRequest {
  if (inputs.cidr !== undefined) return { cidr: inputs.cidr };
  if (inputs.prefixLength !== undefined) return { prefixLength: inputs.prefixLength };
  return { prefixLength: prefixForQuantity(poolTypeFamily(inputs.type), inputs.quantity!) };
}

function outputs(inputs: IpReservationInputs, r: Reservation): IpReservationOutputs {
  const details = describeBlock(parseCidr(r.cidr));
  const out: IpReservationOutputs = {
    ...inputs,
    project: r.project,
    type: r.type,
    tags: r.tags,
    pool: r.poolName,
    cidr: details.cidr,
    network: details.network,
    netmask: details.netmask,
    prefixLength: details.prefixLength,
    family: details.family,
    size: details.size,
    public: r.type !== "private_ipv4",
    global: r.type === "global_ipv4",
  };
  if (r.facility !== null) out.facility = r.facility;
  if (r.description !== null) out.description = r.description;
  else delete out.description;
  if (details.gateway !== undefined) out.gateway = details.gateway;
  if (details.broadcast !== undefined) out.broadcast = details.broadcast;
  if (details.addresses !== undefined) out.addresses = details.addresses;
  return out;
}

export async function check(
  _olds: unknown,
  news: Record<string, unknown>,
): Promise<CheckResult<IpReservationInputs>> {
  const result = checkWith(IpReservationInputs, news);
  // As the store writes it (2001:DB8::/64 is 2001:db8::/64): else every diff would see a new cidr.
  if (result.inputs?.cidr !== undefined) result.inputs.cidr = canonical(result.inputs.cidr);
  return result;
}

function canonical(cidr: string): string {
  try {
    return formatCidr(parseCidr(cidr));
  } catch {
    return cidr;
  }
}

export async function diff(
  _id: string,
  olds: IpReservationOutputs,
  news: IpReservationInputs,
): Promise<{ changes: boolean; replaces: string[]; deleteBeforeReplace: boolean }> {
  const replaces: string[] = REPLACE_ON.filter((k) => olds[k] !== news[k]);
  // The block changes when the asked block no longer matches the one held.
  if (news.cidr !== undefined) {
    if (canonical(news.cidr) !== canonical(olds.cidr)) replaces.push("cidr");
  } else {
    const wanted = blockRequest(news);
    if ("prefixLength" in wanted && wanted.prefixLength !== olds.prefixLength) {
      replaces.push(news.quantity !== undefined ? "quantity" : "prefixLength");
    }
  }
  const inPlace =
    JSON.stringify(olds.tags ?? []) !== JSON.stringify(news.tags ?? []) ||
    (olds.description ?? null) !== (news.description ?? null);
  return { changes: replaces.length > 0 || inPlace, replaces, deleteBeforeReplace: false };
}

export async function create(
  inputs: IpReservationInputs,
): Promise<{ id: string; outs: IpReservationOutputs }> {
  const config = providerConfig();
  const store = await storeFor(config);
  const request = blockRequest(inputs);
  const facility = inputs.facility ?? null;
  const reservation = await guarded(
    { store, config },
    { ...mutation(inputs), action: "create" },
    () =>
      store.allocate({
        project: inputs.project,
        type: inputs.type,
        facility,
        block: request,
        tags: inputs.tags,
        description: inputs.description ?? null,
        owner: inputs.owner ?? null,
        actor: config.actor,
      }),
    (r) => ({ id: r.id, after: r }),
  );
  return { id: reservation.id, outs: outputs(inputs, reservation) };
}

export async function read(
  id: string,
  props: IpReservationOutputs,
): Promise<{ id: string; props?: IpReservationOutputs }> {
  const config = providerConfig();
  const store = await storeFor(config);
  await authorize(store, config.actor, props.project, "read");
  const reservation = await store.getReservation(id);
  // An empty id tells the engine the reservation is gone.
  if (!reservation) return { id: "" };
  return { id, props: outputs(props, reservation) };
}

export async function update(
  id: string,
  olds: IpReservationOutputs,
  news: IpReservationInputs,
): Promise<{ outs: IpReservationOutputs }> {
  const config = providerConfig();
  const store = await storeFor(config);
  const reservation = await guarded(
    { store, config },
    { ...mutation(news), action: "update", id, before: olds },
    () =>
      store.updateReservation(id, { tags: news.tags, description: news.description ?? null }, config.actor),
    (r) => ({ id, after: r }),
  );
  return { outs: outputs(news, reservation) };
}

export async function remove(id: string, props: IpReservationOutputs): Promise<void> {
  const config = providerConfig();
  const store = await storeFor(config);
  // Already gone is fine: delete must be safe to repeat after an interrupted run.
  await guarded(
    { store, config },
    { ...mutation(props), action: "delete", id, before: props },
    () => store.release(id, config.actor),
    () => ({ id, after: null }),
  );
}

const mutation = (i: IpReservationInputs) => ({
  kind: "IpReservation",
  project: i.project,
  owner: i.owner ?? null,
  permission: "reservation.write" as const,
});
