// What the engine stores as each resource's `__provider` and runs in the dynamic-provider
// process: a one-line module that takes the provider from the installed package by name. State
// never holds provider code, so upgrading the package upgrades every stack's provider. It is
// written out rather than left to Pulumi's closure serializer, whose rendering of a seven-method
// object was 2.8 KB: in every resource's inputs and outputs, so over half of each Server's
// state, in every checkpoint the engine writes and every Check and Create it sends.
import * as pulumi from "@pulumi/pulumi";

export type Kind = "IpReservation" | "Server" | "Vlan" | "ProjectMember";

/** Kinds whose replacement must delete first, and why (for the error when told otherwise). */
const DELETE_FIRST = new Map<Kind, string>([
  ["Server", "takes over the old server's machine and addresses when it is created first"],
  ["Vlan", "takes over the old VLAN when it is created first"],
  ["ProjectMember", "takes over the old membership when it is created first"],
]);

export const shimSource = (kind: Kind) =>
  `exports.handler = () => require("pulumi-baremetal/provider").shim(${JSON.stringify(kind)});\n`;

/**
 * What a resource's constructor hands `pulumi.CustomResource`: a dynamic resource of the
 * pulumi-nodejs provider, as `pulumi.dynamic.Resource` makes one (the same type token and
 * `__provider` input), with the shim above as its provider. Each resource class extends
 * CustomResource itself, with no class of ours between: Pulumi takes the resource's source
 * position from a fixed depth of the constructor's stack, and a level more made every
 * resource's position a line of this SDK instead of the program's.
 *
 * Until `done()`, no stack frames are captured. Pulumi's runtime gives each property four
 * promises and formats a stack trace for each at once (`debuggablePromise`), though it reads
 * them only when PULUMI_DEBUG_PROMISE_LEAKS is set. Under ts-node every frame goes through
 * source-map-support: 92 traces of 10 frames for a quickstart Server, about 5 ms of the
 * program's CPU, and 0.4 s before a 100-server program's first registration could leave.
 * Pulumi reads the source position under a limit of its own, so that is kept; so are full
 * traces when PULUMI_DEBUG_PROMISE_LEAKS asks for them, and `failed` gives an error thrown in
 * the constructor the program's frames back.
 */
export function dynamicResource(
  kind: Kind,
  name: string,
  props: pulumi.Inputs,
  opts?: pulumi.CustomResourceOptions,
): {
  type: string;
  props: pulumi.Inputs;
  /** The options to register with: `opts`, with deleteBeforeReplace where the kind needs it. */
  opts: pulumi.CustomResourceOptions | undefined;
  done(): void;
  failed(e: unknown, resource: abstract new (...args: never[]) => unknown): unknown;
} {
  if (opts?.import !== undefined) {
    // The engine reads an imported resource without its `__provider`, so a dynamic resource
    // cannot be imported: it failed with "code must be a string, not undefined".
    throw new Error(
      `${kind} ${name}: import is not supported (Pulumi imports no dynamic resource). A resource this ` +
        `stack lost from its state (pulumi state delete, an interrupted run) is taken back by declaring it ` +
        `again under the same name in the same stack: its create finds it by its owner key and adopts it.`,
    );
  }
  // A replacement the engine decides on its own (`pulumi up --replace`, replaceOnChanges) asks
  // the provider nothing: it creates the new resource before deleting the old unless the
  // resource's options say otherwise. These kinds' creates adopt what their owner key already
  // holds (how an interrupted run is finished), so a new one created first took over the old
  // one's machine, VLAN or membership, and the old one's delete then took it apart under it.
  // An IpReservation needs no such order: its adoption gives the block a new id.
  if (DELETE_FIRST.has(kind) && opts?.deleteBeforeReplace === false) {
    throw new Error(
      `${kind} ${name}: deleteBeforeReplace: false is not supported: a replacement ${DELETE_FIRST.get(kind)}, ` +
        "so the old one is deleted before the new one is created; leave deleteBeforeReplace unset (or true)",
    );
  }
  const options = DELETE_FIRST.has(kind) ? { ...opts, deleteBeforeReplace: true } : opts;
  const limit = Error.stackTraceLimit;
  if (!process.env.PULUMI_DEBUG_PROMISE_LEAKS) Error.stackTraceLimit = 0;
  const done = () => {
    Error.stackTraceLimit = limit;
  };
  return {
    type: `pulumi-nodejs:dynamic/baremetal:${kind}`,
    props: { ...props, __provider: shimSource(kind) },
    opts: options,
    done,
    failed(e, resource) {
      done();
      // Thrown with no frames: the program's, from the line that declared the resource.
      if (e instanceof Error) Error.captureStackTrace(e, resource);
      return e;
    },
  };
}

/** `<organization>/<project>/<stack>/<resource name>`: lets the provider find what an interrupted run left. */
export function ownerKey(pulumiModule: typeof pulumi, name: string): string {
  return `${pulumiModule.getOrganization()}/${pulumiModule.getProject()}/${pulumiModule.getStack()}/${name}`;
}
