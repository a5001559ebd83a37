import * as pulumi from "@pulumi/pulumi";
import { dynamicResource, ownerKey } from "./provider-shim";

export type ProjectRole = "owner" | "admin" | "collaborator" | "read_only";

export interface ProjectMemberArgs {
  /** The project the user joins. */
  project: pulumi.Input<string>;
  /** The user's email address: their identity (and, on PostgreSQL, their database login). */
  user: pulumi.Input<string>;
  /**
   * read_only reads; collaborator adds servers, reservations and VLANs; admin adds members;
   * owner adds owners. Changes apply in place; the last owner cannot be demoted.
   */
  role: pulumi.Input<ProjectRole>;
  /** OpenSSH public keys that go onto the project's servers installed from now on, while the role is collaborator or higher (a read_only member gets no login). */
  sshKeys?: pulumi.Input<pulumi.Input<string>[]>;
}

/** A user's role in a project. */
export class ProjectMember extends pulumi.CustomResource {
  declare readonly project: pulumi.Output<string>;
  declare readonly user: pulumi.Output<string>;
  declare readonly role: pulumi.Output<ProjectRole>;
  declare readonly sshKeys: pulumi.Output<string[]>;
  /** When the user became a member. */
  declare readonly since: pulumi.Output<string>;

  constructor(name: string, args: ProjectMemberArgs, opts?: pulumi.CustomResourceOptions) {
    const r = dynamicResource(
      "ProjectMember",
      name,
      { ...args, owner: ownerKey(pulumi, name), since: undefined },
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
