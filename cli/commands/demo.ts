// The demo: the built-in lab (simulated Redfish BMCs, an SSH switch and machines that netboot
// from a real boot server), a real `pulumi up` of examples/quickstart (three servers and an
// address block) on the embedded SQLite store, the servers as the store holds them, then
// `pulumi destroy` and proof that nothing was left behind.
import fs from "node:fs";
import path from "node:path";
import ipaddr from "ipaddr.js";
import { Command } from "commander";
import { exampleStack } from "../example-stack";
import { startLabSite } from "../lab-site";
import { listServers } from "../../provider/store/servers-sql";
import { table } from "../table";

export function demoCommand(): Command {
  return new Command("demo")
    .description(
      "pulumi up and destroy of examples/quickstart on the built-in lab and a fresh embedded store",
    )
    .option(
      "--keep",
      "skip the destroy; keep the lab running until Ctrl-C, and print how to destroy from another terminal meanwhile",
    )
    .option("--install-ms <ms>", "how long a simulated install takes", "1000")
    .action(async (o: { keep?: boolean; installMs: string }) => {
      const ex = await exampleStack("quickstart", "demo");
      fs.mkdirSync(path.dirname(ex.storeFile), { recursive: true });
      const site = await startLabSite({
        storeFile: ex.storeFile,
        machines: 4,
        installTimeMs: Number(o.installMs),
      });
      const out = (s: string) => process.stdout.write(s);
      try {
        for (const [k, v] of Object.entries(site.env)) process.env[k] = v;
        for (const [k, v] of Object.entries(site.config)) await ex.stack.setConfig(k, { value: v });
        console.log(
          `== built-in lab: ${site.lab.machines.length} machines, Redfish ${site.lab.redfish.url}, switch ${site.lab.switch.host}:${site.lab.switch.port}, boot server ${site.boot.url}`,
        );
        console.log(`== pulumi up (project in ${ex.dir}, store ${ex.storeFile})`);
        await ex.stack.up({ onOutput: out });

        const servers = await site.store.transact(() => listServers(), "read");
        const rows = [];
        for (const s of servers) {
          const addrs = await site.store.listAssignments({ server: s.id });
          rows.push([
            s.hostname,
            s.machineId,
            s.state,
            // As the outputs give them: public IPv4, private IPv4, then IPv6.
            addrs
              .map((a) => a.address)
              .sort((a, b) => addressRank(a) - addressRank(b))
              .join(" "),
            `vlan ${site.lab.vlanOf(s.machineId) ?? "-"}`,
          ]);
        }
        console.log("\n== servers in the store");
        console.log(table(["HOSTNAME", "MACHINE", "STATE", "ADDRESSES", "SWITCH PORT"], rows));
        if (o.keep) {
          // Everything the stack's pulumi needs: its own backend and home, and the lab's
          // credentials, which exist only while this process runs (lab-only, so shown).
          const quoted = (v: string) => `'${v.replace(/'/g, "'\\''")}'`;
          const env = Object.entries({ ...ex.env, ...site.env })
            .map(([k, v]) => `${k}=${quoted(v)}`)
            .join(" ");
          console.log(
            `\nkept. While this runs, destroy from another terminal:\n  cd ${ex.dir} && env ${env} pulumi destroy --yes\n` +
              "Ctrl-C stops the lab and removes the project (destroy first: the servers' BMCs and switch stop with it)",
          );
          await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
          return;
        }
        console.log("\n== pulumi destroy");
        await ex.stack.destroy({ onOutput: out });
        const left = await site.store.transact(() => listServers(), "read");
        const reservations = await site.store.listReservations();
        const busy = (await site.store.inventory()).machines.filter((m) => m.state !== "available");
        if (left.length || reservations.length || busy.length) {
          throw new Error(
            `destroy left ${left.length} server(s), ${reservations.length} reservation(s), ${busy.length} machine(s) not available`,
          );
        }
        console.log("\n== nothing left behind: no server, no reservation, every machine wiped and available");
      } finally {
        await site.stop();
        // Kept or not, the stack and store are of a lab that is gone now.
        ex.cleanup();
      }
    });
}

function addressRank(address: string): number {
  const a = ipaddr.parse(address);
  return a.kind() === "ipv6" ? 2 : a.range() === "private" ? 1 : 0;
}
