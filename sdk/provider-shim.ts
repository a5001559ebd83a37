// The dynamic provider the engine serializes into state. It must stay tiny and portable: each
// method requires the installed package by name at call time and captures nothing else (the
// resource kind is a string literal), so state never holds a copy of the provider's code.
import type * as pulumi from "@pulumi/pulumi";

type Kind = "IpReservation" | "Server" | "Vlan" | "ProjectMember";

/* eslint-disable @typescript-eslint/no-explicit-any */
export function providerShim(kind: Kind): pulumi.dynamic.ResourceProvider {
  return {
    async configure(req: pulumi.dynamic.ConfigureRequest) {
      require("pulumi-baremetal/provider").configure((key: string) => req.config.get(key));
    },
    async check(olds: any, news: any) {
      return require("pulumi-baremetal/provider").resources[kind].check(olds, news);
    },
    async diff(id: string, olds: any, news: any) {
      return require("pulumi-baremetal/provider").resources[kind].diff(id, olds, news);
    },
    async create(inputs: any) {
      return require("pulumi-baremetal/provider").resources[kind].create(inputs);
    },
    async read(id: string, props: any) {
      return require("pulumi-baremetal/provider").resources[kind].read(id, props);
    },
    async update(id: string, olds: any, news: any) {
      return require("pulumi-baremetal/provider").resources[kind].update(id, olds, news);
    },
    async delete(id: string, props: any) {
      return require("pulumi-baremetal/provider").resources[kind].remove(id, props);
    },
  };
}

/** `<organization>/<project>/<stack>/<resource name>`: lets the provider find what an interrupted run left. */
export function ownerKey(pulumiModule: typeof pulumi, name: string): string {
  return `${pulumiModule.getOrganization()}/${pulumiModule.getProject()}/${pulumiModule.getStack()}/${name}`;
}
