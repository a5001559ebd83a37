import { Command } from "commander";
import { listProjects, readProject, createProject } from "../../provider/store/projects-sql";
import { STORE_HELP, withStore } from "../store-option";
import { table } from "../table";
import { ProjectMemberInputs } from "../../provider/resources/project-member";

export function projectCommand(): Command {
  const cmd = new Command("project").description(
    "projects: who may do what with servers, addresses and VLANs",
  );
  cmd
    .command("create <name>")
    .description("create a project and name its first owner")
    .requiredOption("--owner <email>", "the first owner (more come as ProjectMember resources)")
    .option("--description <text>", "what the project is for")
    .option("--ssh-key <key...>", "the owner's SSH public keys, for the project's servers")
    .option("--store <location>", STORE_HELP)
    .action(
      async (name: string, o: { owner: string; description?: string; sshKey?: string[]; store?: string }) => {
        if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(name))
          throw new Error(`project name: ${name} must be 1-63 lower-case letters, digits, '.', '_' or '-'`);
        // The same rules as a ProjectMember's: keys taken here go into every server of the project.
        const member = ProjectMemberInputs.safeParse({
          project: name,
          user: o.owner,
          role: "owner",
          sshKeys: o.sshKey,
        });
        if (!member.success) {
          const issue = member.error.issues[0]!;
          const flag =
            issue.path[0] === "user"
              ? "--owner"
              : issue.path[0] === "sshKeys"
                ? `--ssh-key ${String(issue.path[1] ?? "")}`.trim()
                : "project name";
          throw new Error(`${flag}: ${issue.message}`);
        }
        await withStore(
          o.store,
          async (store, who) => {
            const p = await store.transact((at) =>
              createProject(
                { name, description: o.description ?? null, owner: o.owner, sshKeys: o.sshKey },
                who,
                at,
              ),
            );
            console.log(`project ${p.name}, owner ${o.owner}`);
          },
          { create: true },
        );
      },
    );
  cmd
    .command("list")
    .option("--store <location>", STORE_HELP)
    .option("--json", "print JSON")
    .action(async (o: { store?: string; json?: boolean }) => {
      await withStore(o.store, async (store) => {
        const all = await store.transact(() => listProjects(), "read");
        console.log(
          o.json
            ? JSON.stringify(all, null, 2)
            : table(
                ["PROJECT", "OWNERS", "MEMBERS", "DESCRIPTION", "CREATED"],
                all.map((p) => [p.name, p.owners.join(", "), p.members, p.description, p.createdAt]),
              ),
        );
      });
    });
  cmd
    .command("show <name>")
    .option("--store <location>", STORE_HELP)
    .option("--json", "print JSON")
    .action(async (name: string, o: { store?: string; json?: boolean }) => {
      await withStore(o.store, async (store) => {
        const p = await store.transact(() => readProject(name), "read");
        if (!p)
          throw Object.assign(new Error(`project ${name} does not exist`), {
            name: "ProjectNotFound",
            code: "ProjectNotFound",
          });
        if (o.json) return console.log(JSON.stringify(p, null, 2));
        console.log(
          `project ${p.name}${p.description ? `: ${p.description}` : ""} (created by ${p.createdBy} at ${p.createdAt})`,
        );
        console.log(
          table(
            // A member no stack manages was added outside Pulumi (project create, or raw SQL):
            // who added it is what can be said.
            ["USER", "ROLE", "SSH KEYS", "SINCE", "ADDED BY", "MANAGED BY"],
            p.members.map((m) => [
              m.user,
              m.role,
              m.sshKeys.length,
              m.createdAt,
              m.createdBy,
              m.owner ?? "no stack",
            ]),
          ),
        );
      });
    });
  return cmd;
}
