// What the engine stores as each resource's `__provider` and runs in the dynamic-provider
// process: a one-line module that takes the provider from the installed package by name. State
// never holds provider code, so upgrading the package upgrades every stack's provider. It is
// written out rather than left to Pulumi's closure serializer, whose rendering of a seven-method
// object was 2.8 KB: in every resource's inputs and outputs, so over half of each Server's
// state, in every checkpoint the engine writes and every Check and Create it sends.
import * as pulumi from "@pulumi/pulumi";

export type Kind = "IpReservation" | "Server" | "Vlan" | "ProjectMember";

export const shimSource = (kind: Kind) =>
  `exports.handler = () => require("pulumi-baremetal/provider").shim(${JSON.stringify(kind)});\n`;

/**
 * A dynamic resource of the pulumi-nodejs provider, as `pulumi.dynamic.Resource` makes one (the
 * same type token and `__provider` input), with the shim above as its provider.
 */
export abstract class BaremetalResource extends pulumi.CustomResource {
  protected constructor(kind: Kind, name: string, props: pulumi.Inputs, opts?: pulumi.CustomResourceOptions) {
    if (opts?.import !== undefined) {
      // The engine reads an imported resource without its `__provider`, so a dynamic resource
      // cannot be imported: it failed with "code must be a string, not undefined".
      throw new Error(
        `${kind} ${name}: import is not supported (Pulumi imports no dynamic resource). A resource this ` +
          `stack lost from its state (pulumi state delete, an interrupted run) is taken back by declaring it ` +
          `again under the same name in the same stack: its create finds it by its owner key and adopts it.`,
      );
    }
    super(`pulumi-nodejs:dynamic/baremetal:${kind}`, name, { ...props, __provider: shimSource(kind) }, opts);
  }
}

/** `<organization>/<project>/<stack>/<resource name>`: lets the provider find what an interrupted run left. */
export function ownerKey(pulumiModule: typeof pulumi, name: string): string {
  return `${pulumiModule.getOrganization()}/${pulumiModule.getProject()}/${pulumiModule.getStack()}/${name}`;
}
