// ProjectMember: a user's role in a project, and the SSH keys that go onto the project's new
// servers. Role and keys change in place; another project or user replaces it. Granting,
// changing or removing an owner takes an owner; any other member change takes an admin. The
// last owner of a project cannot be removed or demoted.
import { z } from "zod";
import { nameField } from "./fields";
import { guarded } from "../access/guard";
import { authorize } from "../access/authorize";
import { ROLES, memberAction, type Role } from "../access/roles";
import { providerConfig, storeFor } from "../runtime";
import { addMember, readMember, removeMember, updateMember, type Member } from "../store/projects-sql";
import { SSH_KEY } from "../provisioning/render/checks";
import { SSH_KEY_RULE } from "../servers/inputs";
import { checkWith, type CheckResult } from "./check";

export const ProjectMemberInputs = z.strictObject({
  project: nameField("project"),
  user: z.email({ error: "user must be an email address, e.g. alice@example.com" }).max(254),
  role: z.enum(ROLES, { error: `role must be one of ${ROLES.join(", ")}` }),
  sshKeys: z.array(z.string().regex(SSH_KEY, SSH_KEY_RULE)).max(64).default([]),
  /** Set by the sdk: `<organization>/<project>/<stack>/<resource name>`. */
  owner: z.string().optional(),
});
export type ProjectMemberInputs = z.output<typeof ProjectMemberInputs>;

export interface ProjectMemberOutputs extends ProjectMemberInputs {
  /** When the user became a member. */
  since: string;
}

const outputs = (inputs: ProjectMemberInputs, m: Member): ProjectMemberOutputs => ({
  ...inputs,
  project: m.project,
  user: m.user,
  role: m.role,
  sshKeys: m.sshKeys,
  since: m.createdAt,
});

const context = async () => {
  const config = providerConfig();
  return { config, store: await storeFor(config) };
};

const mutation = (i: ProjectMemberInputs, ...roles: Role[]) => ({
  kind: "ProjectMember",
  project: i.project,
  owner: i.owner ?? null,
  permission: memberAction(...roles),
});

export async function check(
  _olds: unknown,
  news: Record<string, unknown>,
): Promise<CheckResult<ProjectMemberInputs>> {
  return checkWith(ProjectMemberInputs, news);
}

export async function diff(
  _id: string,
  olds: ProjectMemberOutputs,
  news: ProjectMemberInputs,
): Promise<{ changes: boolean; replaces: string[]; deleteBeforeReplace: boolean }> {
  const replaces = (["project", "user"] as const).filter((k) => olds[k] !== news[k]);
  const inPlace =
    olds.role !== news.role || JSON.stringify(olds.sshKeys ?? []) !== JSON.stringify(news.sshKeys);
  // One row per user and project: the old membership goes before the new one comes.
  return { changes: replaces.length > 0 || inPlace, replaces, deleteBeforeReplace: true };
}

export async function create(
  inputs: ProjectMemberInputs,
): Promise<{ id: string; outs: ProjectMemberOutputs }> {
  const ctx = await context();
  const { member } = await guarded(
    ctx,
    { ...mutation(inputs, inputs.role), action: "create" },
    () =>
      ctx.store.transact((at) =>
        addMember(
          {
            project: inputs.project,
            user: inputs.user,
            role: inputs.role,
            sshKeys: inputs.sshKeys,
            owner: inputs.owner ?? null,
          },
          ctx.config.actor,
          at,
        ),
      ),
    (r) => ({ id: `${r.member.project}/${r.member.user}`, after: r.member }),
  );
  return { id: `${member.project}/${member.user}`, outs: outputs(inputs, member) };
}

export async function read(
  id: string,
  props: ProjectMemberOutputs,
): Promise<{ id: string; props?: ProjectMemberOutputs }> {
  const ctx = await context();
  await authorize(ctx.store, ctx.config.actor, props.project, "read");
  const m = await ctx.store.transact(() => readMember(props.project, props.user), "read");
  // An empty id tells the engine the membership is gone.
  if (!m) return { id: "" };
  return { id, props: outputs(props, m) };
}

export async function update(
  id: string,
  olds: ProjectMemberOutputs,
  news: ProjectMemberInputs,
): Promise<{ outs: ProjectMemberOutputs }> {
  const ctx = await context();
  const member = await guarded(
    ctx,
    { ...mutation(news, olds.role, news.role), action: "update", id, before: olds },
    () =>
      ctx.store.transact((at) =>
        updateMember(
          news.project,
          news.user,
          { role: news.role, sshKeys: news.sshKeys },
          ctx.config.actor,
          at,
        ),
      ),
    (m) => ({ id, after: m }),
  );
  return { outs: outputs(news, member) };
}

export async function remove(id: string, props: ProjectMemberOutputs): Promise<void> {
  const ctx = await context();
  // Already gone is fine: delete must be safe to repeat after an interrupted run.
  await guarded(
    ctx,
    { ...mutation(props, props.role), action: "delete", id, before: props },
    () => ctx.store.transact((at) => removeMember(props.project, props.user, ctx.config.actor, at)),
    () => ({ id, after: null }),
  );
}
