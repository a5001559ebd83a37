// A machine behind a real BMC: started by the ipmi_sim chassis hook (see ./netns-machine) in
// the machine's network namespace when the BMC powers it on, killed when it powers off. It
// runs the built-in lab's machine model (firmware, iPXE, installer, wipe image), so what it
// does is the same; only here every byte goes through the namespace's NIC, the switch's
// bridges and the real boot server. A port that is not on the provisioning VLAN cannot reach
// the boot server, and the machine finds nothing to boot.
//
// What a machine keeps across power cycles lives in the BMC's state directory: `installed`
// (the disk holds an OS). It writes its phase to `phase` and what it did to its log (stdout).
//
// The boot server's URL comes from argv where a real machine gets it from DHCP.
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { MachineSim } from "../../provider/lab/machine-sim";
import { SimSystem } from "../../provider/lab/redfish-system";

const { values } = parseArgs({
  options: {
    "boot-server": { type: "string" },
    mac: { type: "string" },
    boot: { type: "string" },
    state: { type: "string" },
    "install-ms": { type: "string", default: "500" },
  },
});
const bootServer = values["boot-server"];
const mac = values.mac;
const state = values.state;
if (!bootServer || !mac || !state || !fs.existsSync(state)) {
  throw new Error("usage: machine-agent --boot-server URL --mac MAC --boot pxe|default|none --state DIR");
}
const installed = path.join(state, "installed");
const write = (file: string, text: string) => {
  const tmp = path.join(state, `.${file}.${process.pid}`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, path.join(state, file));
};

const system = new SimSystem("agent", "agent");
if (values.boot === "pxe") system.setBoot("Pxe", "Once");
const machine = new MachineSim(
  "agent",
  system,
  [{ mac, port: "eth0" }],
  { bootServerUrl: () => bootServer, netboot: () => ({}), httpTimeoutMs: 3000 },
  { installTimeMs: Number(values["install-ms"]) },
);
machine.installed = fs.existsSync(installed);
machine.on("phase", (phase) => {
  if (machine.installed) write("installed", "");
  else fs.rmSync(installed, { force: true });
  write("phase", `${phase}\n`);
  console.log(`${new Date().toISOString()} ${phase}${machine.reason ? `: ${machine.reason}` : ""}`);
  // Done with what a boot does: the process stays (the machine is on) until powered off.
  if (phase === "failed" || phase === "no-boot") console.log(machine.history().slice(-8).join("\n"));
});
// The machine runs until its power goes; bounded anyway, so a lost hook cannot leave it forever.
const on = setInterval(() => undefined, 60_000);
const powerOff = () => {
  clearInterval(on);
  clearTimeout(limit);
  machine.stop(); // aborts what is in flight; the process then ends with nothing left to do
};
const limit = setTimeout(powerOff, 30 * 60_000);
// Power off: the hook sends SIGTERM. Nothing to save: power loss interrupts whatever ran.
process.on("SIGTERM", powerOff);
system.setPower("On");
