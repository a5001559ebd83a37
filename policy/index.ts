// pulumi-baremetal's policy pack: `pulumi preview --policy-pack policy` (or `up`). Every policy
// takes its enforcement level ("advisory", "mandatory" or "disabled") and settings from the
// pack's config (`--policy-pack-config config.json`); the rules themselves are in rules.ts.
import { PolicyPack, type ResourceValidationPolicy, type StackValidationPolicy } from "@pulumi/policy";
import * as pulumi from "@pulumi/pulumi";
import {
  disguised,
  isProduction,
  kindOf,
  layer2NeedsVlan,
  ownerGrant,
  planAndOs,
  productionServer,
  publicIpv4Cap,
  serverPublicIpv4Cap,
  spreadAcrossRacks,
  type IpReservationProps,
  type PlanAndOsConfig,
  type ProductionConfig,
  type ServerAddressProps,
  type ServerProps,
} from "./rules";

const strings = { type: "array", items: { type: "string" } } as const;

/** Reports each violation a rule found for a resource of `kind`. */
function onKind<P, C extends object>(
  kind: string,
  rule: (props: P, config: C, args: { stack: string; tags: ReadonlyMap<string, string> }) => string[],
) {
  return (
    args: {
      type: string;
      props: Record<string, unknown>;
      getConfig<T extends object>(): T;
      stackTags: ReadonlyMap<string, string>;
    },
    report: (m: string) => void,
  ) => {
    if (kindOf(args.type, args.props) !== kind) return;
    for (const m of rule(args.props as P, args.getConfig<C>(), {
      stack: pulumi.getStack(),
      tags: args.stackTags,
    }))
      report(m);
  };
}

const policies: (ResourceValidationPolicy | StackValidationPolicy)[] = [
  {
    name: "baremetal-resources-by-their-type",
    description:
      "pulumi-baremetal's provider runs only under its own resources' type tokens, which the other policies check.",
    enforcementLevel: "mandatory",
    validateResource: (args, report) => {
      for (const m of disguised(args.type, args.props)) report(m);
    },
  },
  {
    name: "allowed-plans-and-operating-systems",
    description: "Servers use the plans and operating systems this stack allows.",
    enforcementLevel: "mandatory",
    configSchema: {
      properties: {
        plans: strings,
        operatingSystems: strings,
        stacks: { type: "object", additionalProperties: { type: "object" } },
      },
    },
    validateResource: onKind<ServerProps, PlanAndOsConfig>("Server", (p, c, a) => planAndOs(p, c, a.stack)),
  },
  {
    name: "production-servers-wipe-and-boot-from-disk",
    description: "In production stacks (by name or stack tag) servers keep wipeOnDelete and never alwaysPxe.",
    enforcementLevel: "mandatory",
    configSchema: {
      properties: {
        stacks: strings,
        tag: { type: "object", properties: { name: { type: "string" }, value: { type: "string" } } },
      },
    },
    validateResource: onKind<ServerProps, ProductionConfig>("Server", (p, c, a) =>
      isProduction(c, a.stack, a.tags) ? productionServer(p) : [],
    ),
  },
  {
    name: "public-ipv4-reservation-cap",
    description:
      "A public (or global) IPv4 reservation, and the public IPv4 blocks a server takes for itself, hold at most maxAddresses addresses.",
    enforcementLevel: "mandatory",
    configSchema: { properties: { maxAddresses: { type: "integer", minimum: 1, default: 16 } } },
    validateResource: (args, report) => {
      onKind<IpReservationProps, { maxAddresses?: number }>("IpReservation", publicIpv4Cap)(args, report);
      onKind<ServerAddressProps, { maxAddresses?: number }>("Server", serverPublicIpv4Cap)(args, report);
    },
  },
  {
    name: "layer2-needs-a-vlan",
    description: "A layer2 server carries at least one VLAN.",
    enforcementLevel: "mandatory",
    validateResource: onKind<ServerProps, object>("Server", layer2NeedsVlan),
  },
  {
    name: "owner-grants-are-reviewed",
    description: "Granting owner through ProjectMember needs review: only users in approvedOwners pass.",
    enforcementLevel: "mandatory",
    configSchema: { properties: { approvedOwners: strings } },
    validateResource: onKind<{ role?: string; user?: string }, { approvedOwners?: string[] }>(
      "ProjectMember",
      ownerGrant,
    ),
  },
  {
    name: "clusters-spread-across-racks",
    description:
      "Servers tagged with the same cluster tag stand in different racks (at most maxPerRack per rack).",
    enforcementLevel: "advisory",
    configSchema: {
      properties: {
        clusterTagPrefix: { type: "string", default: "cluster:" },
        maxPerRack: { type: "integer", minimum: 1, default: 1 },
      },
    },
    validateStack: (args, report) => {
      const servers = args.resources
        .filter((r) => kindOf(r.type, r.props) === "Server")
        .map((r) => ({
          name: r.name,
          tags: (r.props.tags as string[] | undefined) ?? [],
          rack: typeof r.props.rack === "string" ? r.props.rack : undefined,
        }));
      for (const m of spreadAcrossRacks(servers, args.getConfig())) report(m);
    },
  },
];

new PolicyPack("baremetal", { policies });
