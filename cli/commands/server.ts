// `baremetal server list|delete`: the servers the store holds, whoever's stack made them, and
// the way to take one apart without its stack. A run killed mid-create leaves its server row,
// addresses and machine claimed under its owner key; its next `pulumi up` adopts them, but if
// the resource left the program (or the stack is gone) nothing ever will: an operator lists
// them here and deletes them, which does what the resource's delete does (power off, wipe
// unless the server said not to, reset the ports, release the addresses, give the machine
// back), checked against the operator's role and written to the audit log.
import { Command, Option } from "commander";
import { guarded, redact } from "../../provider/access/guard";
import { resolveConfig } from "../../provider/config";
import { secretVariable } from "../../provider/inventory/credentials";
import { deleteServer } from "../../provider/servers/lifecycle";
import { closeSwitches } from "../../provider/servers/hardware";
import { ServerInputs } from "../../provider/servers/inputs";
import { SERVER_STATES, listServers, readServer } from "../../provider/store/servers-sql";
import { STORE_HELP, storeLocation, withStore } from "../store-option";
import { table } from "../table";

export function serverCommand(): Command {
  const server = new Command("server").description(
    "servers in the store, and deleting one its stack no longer will (a crashed run's)",
  );

  server
    .command("list")
    .description("every server with its owner key (organization/project/stack/resource), state and machine")
    .option("--project <name>", "only this project")
    .addOption(new Option("--state <state>", "only this state").choices(SERVER_STATES))
    .option("--store <location>", STORE_HELP)
    .option("--json", "print JSON")
    .action(async (o: { project?: string; state?: string; store?: string; json?: boolean }) => {
      await withStore(o.store, async (store) => {
        const servers = (await store.transact(() => listServers(o.project), "read")).filter(
          (s) => o.state === undefined || s.state === o.state,
        );
        console.log(
          o.json
            ? // The inputs as the audit log keeps them: userData and customData hold secrets.
              JSON.stringify(
                // Engine-internal inputs (__provider) say nothing about the server.
                servers.map((s) => ({
                  ...s,
                  spec: redact(
                    Object.fromEntries(Object.entries(s.spec).filter(([k]) => !k.startsWith("__"))),
                  ),
                })),
                null,
                2,
              )
            : table(
                ["ID", "HOSTNAME", "PROJECT", "STATE", "MACHINE", "OWNER", "SINCE"],
                servers.map((s) => [s.id, s.hostname, s.project, s.state, s.machineId, s.owner, s.updatedAt]),
              ),
        );
      });
    });

  server
    .command("delete <id>")
    .description(
      "take a server apart as its resource's delete would: power off, wipe (unless it has wipeOnDelete false), reset ports, release addresses, return the machine",
    )
    .option(
      "--boot-server <url>",
      "the boot server machines reach (for the wipe); default $BAREMETAL_BOOT_SERVER_URL",
    )
    .option("--store <location>", STORE_HELP)
    .action(async (id: string, o: { bootServer?: string; store?: string }) => {
      // The provider's own configuration, from the environment: credentials the inventory
      // names as {env: VAR} are read from it, and {secret: key} ones (a stack's config in the
      // provider) from BAREMETAL_SECRET_key.
      const config = resolveConfig(
        (k) =>
          ({ "baremetal:store": storeLocation(o.store), "baremetal:bootServerUrl": o.bootServer })[k] ??
          undefined,
      );
      config.secret = (key) => process.env[secretVariable(key)] || undefined;
      await withStore(o.store, async (store, who) => {
        // As the provider does: on PostgreSQL the login acts, whatever the environment says.
        config.actor = who;
        const found = await store.transact(() => readServer("id", id), "read");
        if (!found) throw new Error(`server ${id} is not in the store (baremetal server list shows them)`);
        // The spec as the provider stored it, without the engine's keys (`__provider`) and the
        // policy stamp, which are no inputs.
        const spec = Object.fromEntries(
          Object.entries(found.spec).filter(([k]) => !k.startsWith("__") && k !== "baremetalKind"),
        );
        const parsed = ServerInputs.safeParse(spec);
        // A spec that no longer parses still says whether to wipe; wiping is the safe default.
        const inputs = parsed.success
          ? parsed.data
          : ({
              wipeOnDelete: (found.spec as { wipeOnDelete?: boolean }).wipeOnDelete !== false,
            } as ServerInputs);
        await guarded(
          { store, config },
          {
            kind: "Server",
            action: "delete",
            project: found.project,
            owner: found.owner,
            permission: "server.write",
            id,
            before: found,
          },
          // The switch sessions it opened stay for reuse in a provider; a command closes them.
          (op) => deleteServer(op, found, inputs, found.owner).finally(closeSwitches),
          () => ({ id, after: null }),
        );
        const machine = (await store.inventory()).machines.find((m) => m.id === found.machineId);
        console.log(
          `deleted server ${id} (${found.hostname}, owner ${found.owner}); machine ${found.machineId} is ${machine?.state ?? "gone"}${machine?.stateReason ? ` (${machine.stateReason})` : ""}`,
        );
      });
    });

  return server;
}
