import * as pulumi from "@pulumi/pulumi";
import { dynamicResource, ownerKey } from "./provider-shim";

export interface VlanArgs {
  /** The project the VLAN belongs to. */
  project: pulumi.Input<string>;
  /** Facility code: the VLAN is created on every switch of this facility. */
  facility: pulumi.Input<string>;
  /** An exact VLAN id (2-4094, inside the facility's range); omit to take the lowest free one. */
  vid?: pulumi.Input<number>;
  description?: pulumi.Input<string>;
  tags?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Delete detaches the switch ports still carrying the VLAN instead of refusing. Like any
   * delete-time setting it must be applied (pulumi up) before the delete that relies on it.
   */
  forceDelete?: pulumi.Input<boolean>;
}

/** A project's VLAN in a facility, on every switch of the facility. */
export class Vlan extends pulumi.CustomResource {
  declare readonly project: pulumi.Output<string>;
  declare readonly facility: pulumi.Output<string>;
  /** The VLAN id (802.1Q tag). */
  declare readonly vid: pulumi.Output<number>;
  declare readonly description: pulumi.Output<string | undefined>;
  declare readonly tags: pulumi.Output<string[]>;
  declare readonly forceDelete: pulumi.Output<boolean>;
  /** The facility's switches that have the VLAN, as they said at the last create or refresh. */
  declare readonly switches: pulumi.Output<string[]>;
  /** Switch ports carrying the VLAN. */
  declare readonly ports: pulumi.Output<
    { switch: string; port: string; machine: string; mode: "access" | "native" | "tagged" }[]
  >;

  constructor(name: string, args: VlanArgs, opts?: pulumi.CustomResourceOptions) {
    const r = dynamicResource(
      "Vlan",
      name,
      {
        ...args,
        owner: ownerKey(pulumi, name),
        switches: undefined,
        ports: undefined,
        ...(args.vid === undefined ? { vid: undefined } : {}),
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
