// A machine in a network namespace, powered by an ipmi_sim BMC: the BMC's chassis hook calls
// the `machine` script written here whenever power lands. Power on starts ./machine-agent in
// the namespace with the boot device the BMC holds (used up, as firmware uses a one-time
// IPMI boot device); power off stops it by the PID it recorded. The agent stays in ipmi_sim's
// process group, so stopping the BMC stops its machine too.
import fs from "node:fs";
import path from "node:path";
import type { IpmiBmc } from "./ipmi";

const REPO = path.resolve(__dirname, "../..");
const AGENT = path.join(__dirname, "machine-agent.ts");
const SAFE = /^[A-Za-z0-9/._:-]+$/;

export interface NetnsMachine {
  mac: string;
  /** What the agent last wrote: off, netbooting, installing, running, wiping, wiped, failed, no-boot. */
  phase(): string;
  /** Whether its disk holds an OS. */
  installed(): boolean;
  /** The agent's log: every power-on's boot, for failure messages. */
  log(): string;
  /** Resolves with the phase once it is one of `phases`; rejects with the log after timeoutMs. */
  waitFor(phases: string[], timeoutMs: number): Promise<string>;
}

export function attachMachine(
  bmc: IpmiBmc,
  opts: { namespace: string; mac: string; bootServerUrl: string; installMs?: number },
): NetnsMachine {
  const d = bmc.stateDir;
  for (const v of [d, opts.namespace, opts.mac, opts.bootServerUrl, REPO, process.execPath]) {
    if (!SAFE.test(v)) throw new Error(`${v}: the machine script would need quoting`);
  }
  const script = `#!/bin/sh
# $1: the BMC's state dir; $2: the power that landed (1 on, 0 off).
d=$1
if [ -f "$d/agent.pid" ]; then kill "$(cat "$d/agent.pid")" 2>/dev/null; rm -f "$d/agent.pid"; fi
if [ "$2" != 1 ]; then echo off > "$d/phase"; exit 0; fi
boot=$(cat "$d/boot")
echo none > "$d/boot"
echo "power on, boot device $boot" >> "$d/agent.log"
cd ${REPO}
ip netns exec ${opts.namespace} ${process.execPath} -r ts-node/register/transpile-only ${AGENT} \\
  --boot-server ${opts.bootServerUrl} --mac ${opts.mac} --boot "$boot" --state "$d" \\
  --install-ms ${opts.installMs ?? 500} >> "$d/agent.log" 2>&1 </dev/null &
echo $! > "$d/agent.pid"
`;
  fs.writeFileSync(path.join(d, "agent.log"), "");
  fs.writeFileSync(path.join(d, "phase"), "off\n");
  fs.writeFileSync(path.join(d, "machine"), script, { mode: 0o755 });
  const read = (f: string) => {
    try {
      return fs.readFileSync(path.join(d, f), "utf8");
    } catch {
      return "";
    }
  };
  const phase = () => read("phase").trim();
  return {
    mac: opts.mac,
    phase,
    installed: () => fs.existsSync(path.join(d, "installed")),
    log: () => read("agent.log"),
    async waitFor(phases, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const p = phase();
        if (phases.includes(p)) return p;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(
        `machine ${opts.mac}: not ${phases.join("/")} within ${timeoutMs} ms (now ${phase()}); log:\n${read("agent.log").slice(-2000)}`,
      );
    },
  };
}
