import * as pulumi from "@pulumi/pulumi";
import { dynamicResource, ownerKey } from "./provider-shim";

export type OperatingSystem =
  "flatcar_stable" | "fedora_coreos_stable" | "ubuntu_24_04" | "ubuntu_22_04" | "custom_ipxe";

export interface ServerIpAddress {
  type: pulumi.Input<"public_ipv4" | "private_ipv4" | "public_ipv6">;
  /** Size of the server's block (31: two IPv4 addresses, one of them the gateway). */
  prefixLength?: pulumi.Input<number>;
  /** Take a host address from this IpReservation (its `id`) instead of a new block. */
  reservationId?: pulumi.Input<string>;
}

export type NetworkType = "layer3" | "hybrid" | "layer2";

export interface ServerArgs {
  project: pulumi.Input<string>;
  /** Facility code; the machine comes from its inventory. */
  facility: pulumi.Input<string>;
  /** Hardware class: any available machine of it. Give plan or machine. */
  plan?: pulumi.Input<string>;
  /** One machine by inventory id. Give plan or machine. */
  machine?: pulumi.Input<string>;
  hostname: pulumi.Input<string>;
  operatingSystem: pulumi.Input<OperatingSystem>;
  /** cloud-init user-data (Ubuntu) or an Ignition config (Flatcar, CoreOS; spec 3.0.0 to 3.4.0, checked at preview as Ignition checks it), for the installed system only: merged into its config, never run by the installer. It may not replace the phone-home unit or root's password. */
  userData?: pulumi.Input<string>;
  customData?: pulumi.Input<Record<string, unknown>>;
  /** custom_ipxe: a URL to chain, or a script starting with #!ipxe. */
  ipxeScriptUrl?: pulumi.Input<string>;
  /** Boot from the network on every boot, not only to install. */
  alwaysPxe?: pulumi.Input<boolean>;
  sshKeys?: pulumi.Input<pulumi.Input<string>[]>;
  tags?: pulumi.Input<pulumi.Input<string>[]>;
  description?: pulumi.Input<string>;
  /**
   * layer3 (default): routed addresses only. hybrid: layer 3 untagged plus `vlans` tagged
   * (the installed OS gets no VLAN interfaces: add `<nic>.<vid>` in userData). layer2: only
   * `vlans` (one as access, several as a trunk), no layer 3 addresses (ipAddresses []).
   */
  networkType?: pulumi.Input<NetworkType>;
  /** VLAN ids of this project's Vlans in this facility, e.g. `[vlan.vid]`. Changes apply in place. */
  vlans?: pulumi.Input<pulumi.Input<number>[]>;
  /** layer2 with several vlans: the one carried untagged. */
  nativeVlan?: pulumi.Input<number>;
  /**
   * Default: public IPv4 /31, private IPv4 /31, public IPv6 /127; none for a layer2 server
   * (when networkType is given as a plain value).
   */
  ipAddresses?: pulumi.Input<pulumi.Input<ServerIpAddress>[]>;
  /**
   * Erase the disks before the machine goes back to the pool (default true). false: delete
   * does not wait for a wipe, and the machine is held in quarantine until an operator wipes
   * or releases it: it never returns to the pool with this server's data.
   */
  wipeOnDelete?: pulumi.Input<boolean>;
  /** How long to wait for the installed OS to call home, and at delete for the wipe to report (default 1800); past it the machine is powered off and quarantined. */
  provisionTimeoutSeconds?: pulumi.Input<number>;
  /** A userData or OS change: "in-place" reinstall (default) or "replace". */
  reinstall?: pulumi.Input<"in-place" | "replace">;
}

/**
 * Outputs the engine keeps encrypted in the state: the root password, and userData and
 * customData, which may hold credentials (the OS gets customData as a root-only file).
 */
const secretOutputs = ["rootPassword", "userData", "customData"];

/** A physical server: claimed, addressed, wired, netbooted, installed, and up. */
export class Server extends pulumi.CustomResource {
  declare readonly project: pulumi.Output<string>;
  declare readonly facility: pulumi.Output<string>;
  declare readonly plan: pulumi.Output<string>;
  /** The inventory id of the machine it runs on. */
  declare readonly machine: pulumi.Output<string>;
  declare readonly hostname: pulumi.Output<string>;
  declare readonly operatingSystem: pulumi.Output<OperatingSystem>;
  declare readonly state: pulumi.Output<string>;
  declare readonly accessPublicIpv4: pulumi.Output<string | undefined>;
  declare readonly accessPrivateIpv4: pulumi.Output<string | undefined>;
  declare readonly accessPublicIpv6: pulumi.Output<string | undefined>;
  declare readonly network: pulumi.Output<
    {
      address: string;
      cidr: string;
      gateway?: string;
      family: 4 | 6;
      public: boolean;
      type: string;
      reservationId: string;
    }[]
  >;
  /** Secret. */
  declare readonly rootPassword: pulumi.Output<string>;
  /** As given; secrets in the state. */
  declare readonly userData: pulumi.Output<string | undefined>;
  declare readonly customData: pulumi.Output<Record<string, unknown> | undefined>;
  declare readonly power: pulumi.Output<"on" | "off" | "unknown">;
  /** The machine's switch ports as the switches report them (refresh shows drift). */
  declare readonly ports: pulumi.Output<
    {
      nic: string;
      switch: string;
      port: string;
      vlan?: number;
      nativeVlan?: number;
      allowedVlans?: number[];
      mode: "access" | "trunk" | "none" | "unknown";
    }[]
  >;
  declare readonly networkType: pulumi.Output<NetworkType>;
  /** The machine's rack, as the inventory says (else its top-of-rack switch). */
  declare readonly rack: pulumi.Output<string>;
  declare readonly vlans: pulumi.Output<number[]>;
  declare readonly timeline: pulumi.Output<{ at: string; action: string }[]>;
  declare readonly tags: pulumi.Output<string[]>;
  declare readonly description: pulumi.Output<string | undefined>;

  constructor(name: string, args: ServerArgs, opts?: pulumi.CustomResourceOptions) {
    const options = {
      ...opts,
      additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), ...secretOutputs],
    };
    const r = dynamicResource(
      "Server",
      name,
      {
        ...args,
        // A layer2 server has no layer 3 addresses: its default is none.
        ipAddresses: args.ipAddresses ?? (args.networkType === "layer2" ? [] : undefined),
        owner: ownerKey(pulumi, name),
        machine: args.machine,
        plan: args.plan,
        state: undefined,
        rack: undefined,
        accessPublicIpv4: undefined,
        accessPrivateIpv4: undefined,
        accessPublicIpv6: undefined,
        network: undefined,
        rootPassword: undefined,
        power: undefined,
        ports: undefined,
        timeline: undefined,
      },
      options,
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
