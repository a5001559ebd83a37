import * as pulumi from "@pulumi/pulumi";
import { dynamicResource, ownerKey } from "./provider-shim";

export type IpReservationType = "public_ipv4" | "private_ipv4" | "public_ipv6" | "global_ipv4";

export interface IpReservationArgs {
  /** The project the block is reserved for. */
  project: pulumi.Input<string>;
  /** Kind of addresses: public or private IPv4, public IPv6, or global (anycast) IPv4. */
  type: pulumi.Input<IpReservationType>;
  /** Facility code whose pools the block comes from; omit for global_ipv4. */
  facility?: pulumi.Input<string>;
  /** Number of addresses, a power of two. Give exactly one of quantity, prefixLength, cidr. */
  quantity?: pulumi.Input<number>;
  /** Size as a prefix length (29 for 8 IPv4 addresses). */
  prefixLength?: pulumi.Input<number>;
  /** An exact block, e.g. "10.0.1.0/28"; refused when any part of it is taken. */
  cidr?: pulumi.Input<string>;
  tags?: pulumi.Input<pulumi.Input<string>[]>;
  description?: pulumi.Input<string>;
}

/** An aligned block of addresses reserved for a project. */
export class IpReservation extends pulumi.CustomResource {
  declare readonly project: pulumi.Output<string>;
  declare readonly type: pulumi.Output<IpReservationType>;
  declare readonly facility: pulumi.Output<string | undefined>;
  declare readonly pool: pulumi.Output<string>;
  /** The block in CIDR notation, e.g. "10.0.0.8/29". */
  declare readonly cidr: pulumi.Output<string>;
  declare readonly network: pulumi.Output<string>;
  declare readonly netmask: pulumi.Output<string>;
  declare readonly gateway: pulumi.Output<string | undefined>;
  declare readonly broadcast: pulumi.Output<string | undefined>;
  declare readonly prefixLength: pulumi.Output<number>;
  declare readonly family: pulumi.Output<4 | 6>;
  /** Number of addresses, as a decimal string. */
  declare readonly size: pulumi.Output<string>;
  /** Usable host addresses (not the gateway), for blocks of up to 256 addresses. */
  declare readonly addresses: pulumi.Output<string[] | undefined>;
  declare readonly public: pulumi.Output<boolean>;
  declare readonly global: pulumi.Output<boolean>;
  declare readonly tags: pulumi.Output<string[]>;
  declare readonly description: pulumi.Output<string | undefined>;

  constructor(name: string, args: IpReservationArgs, opts?: pulumi.CustomResourceOptions) {
    const r = dynamicResource(
      "IpReservation",
      name,
      {
        ...args,
        owner: ownerKey(pulumi, name),
        pool: undefined,
        network: undefined,
        netmask: undefined,
        gateway: undefined,
        broadcast: undefined,
        family: undefined,
        size: undefined,
        addresses: undefined,
        public: undefined,
        global: undefined,
        ...(args.cidr === undefined ? { cidr: undefined } : {}),
        ...(args.prefixLength === undefined ? { prefixLength: undefined } : {}),
      },
      opts,
    );
    try {
      super(r.type, name, r.props, r.opts);
    } catch (e) {
      throw r.failed(e, new.target);
    } finally {
      r.done();
    }
  }
}
