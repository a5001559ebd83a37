import fs from "node:fs";
import { Command, InvalidArgumentError } from "commander";
import { applyInventoryFile } from "../../provider/inventory/apply";
import { parseInventory } from "../../provider/inventory/schema";
import type { MachineRecord } from "../../provider/inventory/types";
import { STORE_HELP, missingSqliteStore, withStore } from "../store-option";
import { table } from "../table";

export function inventoryCommand(): Command {
  const cmd = new Command("inventory").description(
    "facilities, plans, switches and machines, from inventory.yaml",
  );
  cmd
    .command("apply <file>")
    .description("make the store match the file; prints what changes (idempotent)")
    .option("--prune", "remove plans, switches and idle machines that are not in the file")
    .option("--dry-run", "print the changes without making them")
    .option("--store <location>", STORE_HELP)
    .action(async (file: string, o: { prune?: boolean; dryRun?: boolean; store?: string }) => {
      const text = fs.readFileSync(file, "utf8");
      // A file that is refused makes no store.
      const parsed = parseInventory(text);
      for (const f of parsed.facilities) {
        if (f.layer3Vlan === undefined) console.error(sharedNetworkWarning(f.code, f.provisioningVlan));
      }
      // A dry run makes none either: with no store there yet, it shows what a first apply adds.
      const missing = o.dryRun ? missingSqliteStore(o.store) : undefined;
      if (missing) console.log(`(there is no store at ${missing} yet: a first apply would make it)`);
      await withStore(
        missing ? "sqlite::memory:" : o.store,
        async (store, who) => {
          const r = await applyInventoryFile(store, text, {
            prune: !!o.prune,
            dryRun: !!o.dryRun,
            actor: who,
          });
          for (const line of r.lines) console.log(line);
          console.log(!r.changed ? "no changes" : o.dryRun ? "dry run: nothing changed" : "applied");
        },
        { create: !o.dryRun || !!missing },
      );
    });
  cmd
    .command("list")
    .description("what the store holds")
    .option("--store <location>", STORE_HELP)
    .option("--json", "print JSON")
    .action(async (o: { store?: string; json?: boolean }) => {
      await withStore(o.store, async (store) => {
        const inv = await store.inventory();
        // Facilities made by `facility add` (for pools) have no VLAN settings until an
        // inventory gives them some: listed too, so the list is all the store holds.
        const listed = new Set(inv.facilities.map((f) => f.code));
        const bare = (await store.listFacilities()).filter((f) => !listed.has(f.code));
        if (o.json) {
          const extra = bare.length
            ? { facilitiesWithoutVlans: bare.map((f) => ({ code: f.code, name: f.name })) }
            : {};
          return console.log(JSON.stringify({ ...inv, ...extra }, null, 2));
        }
        console.log(
          table(
            ["FACILITY", "NAME", "VLANS", "PROVISIONING VLAN", "LAYER-3 VLAN"],
            [
              ...inv.facilities.map((f) => [
                f.code,
                f.name ?? "",
                `${f.vlans.from}-${f.vlans.to}`,
                String(f.provisioningVlan),
                f.layer3Vlan === undefined ? `${f.provisioningVlan} (shared)` : String(f.layer3Vlan),
              ]),
              ...bare.map((f) => [f.code, f.name ?? "", null, null, null]),
            ],
          ),
        );
        console.log();
        console.log(
          table(
            ["PLAN", "CPU CORES", "MEMORY GB", "DISKS", "NICS"],
            inv.plans.map((p) => [
              p.name,
              String(p.cpu.cores),
              String(p.memoryGb),
              p.disks.map((d) => `${d.count}x${d.sizeGb}GB ${d.type}`).join(", "),
              p.nics.map((n) => `${n.count}x${n.speedGbps}G`).join(", "),
            ]),
          ),
        );
        console.log();
        console.log(
          table(
            ["SWITCH", "FACILITY", "ADDRESS", "DIALECT"],
            inv.switches.map((s) => [s.name, s.facility, `${s.host}:${s.port ?? 22}`, s.dialect]),
          ),
        );
        console.log();
        console.log(machineTable(inv.machines));
      });
    });
  return cmd;
}

const machineTable = (machines: MachineRecord[]) =>
  table(
    ["MACHINE", "FACILITY", "PLAN", "SERIAL", "STATE", "HELD BY"],
    machines.map((m) => [
      m.id,
      m.facility,
      m.plan,
      m.serial,
      m.state + (m.stateReason ? ` (${m.stateReason})` : ""),
      m.owner ?? "",
    ]),
  );

export function machineCommand(): Command {
  const cmd = new Command("machine").description("one machine: look, take out of service, return to service");
  cmd
    .command("show <id>")
    .option("--store <location>", STORE_HELP)
    .option("--json", "print JSON")
    .action(async (id: string, o: { store?: string; json?: boolean }) => {
      await withStore(o.store, async (store) => {
        const m = await store.getMachine(id);
        if (!m)
          throw Object.assign(new Error(`machine ${id} is not in the inventory`), {
            code: "MachineNotFound",
            name: "MachineNotFound",
          });
        if (o.json) return console.log(JSON.stringify(m, null, 2));
        console.log(machineTable([m]));
        console.log();
        const bmc = [
          m.bmc.redfish && `redfish ${m.bmc.redfish.url}`,
          m.bmc.ipmi && `ipmi ${m.bmc.ipmi.host}:${m.bmc.ipmi.port ?? 623}`,
        ];
        console.log(`BMC: ${bmc.filter(Boolean).join(", ")}`);
        console.log(
          table(
            ["NIC", "MAC", "SWITCH", "PORT"],
            m.nics.map((n) => [n.name, n.mac, n.switch, n.port]),
          ),
        );
      });
    });
  cmd
    .command("maintenance <id>")
    .description("take an available machine out of service (or back, with --off)")
    .requiredOption("--reason <text>", "why, for whoever looks next", reasonText)
    .option("--off", "end maintenance: the machine is available again")
    .option("--store <location>", STORE_HELP)
    .action(async (id: string, o: { reason: string; off?: boolean; store?: string }) => {
      await withStore(o.store, async (store, who) => {
        const m = o.off
          ? await store.setMachineState(id, ["maintenance"], "available", o.reason, who)
          : // Not from quarantine: its reason (not wiped, a failed install) would be overwritten,
            // and --off would then put it back in the pool without the check `release` stands for.
            await store.setMachineState(id, ["available"], "maintenance", o.reason, who);
        console.log(`machine ${m.id}: ${m.state}`);
      });
    });
  cmd
    .command("release <id>")
    .description("return a quarantined machine to the pool, once an operator has checked it")
    .requiredOption("--reason <text>", "what was checked or fixed", reasonText)
    .option("--store <location>", STORE_HELP)
    .action(async (id: string, o: { reason: string; store?: string }) => {
      await withStore(o.store, async (store, who) => {
        const m = await store.setMachineState(id, ["quarantine", "maintenance"], "available", o.reason, who);
        console.log(`machine ${m.id}: ${m.state}`);
      });
    });
  return cmd;
}

/**
 * Said at every apply of such a facility: the boot server hands a machine's script, and with its
 * token the configs, to whoever asks first by its MAC on the provisioning network.
 */
function sharedNetworkWarning(code: string, vlan: number): string {
  return (
    `warning: facility ${code} has no layer3Vlan: installed layer3 and hybrid servers stay on the ` +
    `provisioning VLAN ${vlan}, where any of them can ask the boot server for the scripts and configs of ` +
    "machines being installed or wiped; give the facility's layer-3 network a VLAN of its own"
  );
}

/** A machine's state reason is what the next operator reads: it must say something. */
function reasonText(value: string): string {
  if (value.trim() === "")
    throw new InvalidArgumentError("say why, for whoever looks next (it must not be empty)");
  return value.trim();
}
