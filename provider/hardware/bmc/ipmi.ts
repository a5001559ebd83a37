// IPMI over LAN (RMCP+) through ipmitool, one long-lived shell session per BMC (ipmitool-shell.ts). The password travels in the child's environment
// (IPMITOOL_PASSWORD with -E), never on argv where `ps` would show it. The cipher suite is per
// BMC: modern ones want 17; old or simulated ones offer only 3, and refuse 17 when it opens a
// session ("invalid authentication algorithm"), which is named as such, not as unreachable.
import { noLog, type CommandLog } from "../commands";
import { HardwareError } from "../errors";
import { retrying, withDeadline, DEFAULT_RETRY, type RetryPolicy } from "../timing";
import { confirmBoot, setPowerConfirmed } from "./confirm";
import { IpmitoolShell, ShellExited } from "./ipmitool-shell";
import {
  DEFAULT_BMC_TIMEOUTS,
  type Bmc,
  type BmcTimeouts,
  type BootDevice,
  type BootMode,
  type BootSetting,
  type PowerAction,
  type PowerState,
} from "./types";

export interface IpmiEndpoint {
  host: string;
  port?: number;
  username: string;
  password: string;
  /** RMCP+ cipher suite id; 17 (HMAC-SHA256, AES) unless the BMC needs another. */
  cipherSuite?: number;
  /**
   * The firmware mode a boot device is set for. IPMI's boot flags always name one: unset, it
   * is legacy (ipmitool's default), which a UEFI-only machine does not netboot in.
   */
  bootMode?: BootMode;
}

export interface IpmiOptions {
  timeouts?: Partial<BmcTimeouts>;
  retry?: RetryPolicy;
  /** ipmitool binary; tests may point at another build. */
  ipmitool?: string;
  /** Where each change sent is noted, for the audit of the operation using this BMC. */
  log?: CommandLog;
}

// ipmitool's own words, matched to our errors. Authentication failures show up as RAKP
// errors during session setup; an absent BMC as a session that never opens.
const PATTERNS: {
  code: "BmcAuthFailed" | "CipherSuite" | "BmcBusy" | "BmcUnsupported" | "BmcUnreachable";
  re: RegExp;
}[] = [
  {
    code: "BmcAuthFailed",
    re: /unauthorized name|HMAC is invalid|invalid (user ?name|password)|RAKP \d+ message indicates an error/i,
  },
  // The open-session answer's status (IPMI 2.0, table 13-15): the suite asked for is not offered.
  {
    code: "CipherSuite",
    re: /open session response message : (no matching cipher suite|invalid (authentication|integrity|confidentiality) algorithm)/i,
  },
  // Node busy (0xc0), a timeout inside the BMC (0xc3), one initializing (0xd2), a command it
  // cannot take in its present state (0xd5): each passes.
  {
    code: "BmcBusy",
    re: /node busy|\b0xc[03]\b|insufficient resources for session|failed: Timeout|initialization in progress|not supported in present state|\b0xd[25]\b/i,
  },
  { code: "BmcUnsupported", re: /invalid command|not supported|invalid data field/i },
  {
    code: "BmcUnreachable",
    // On a session already open, a command whose answer never came is only "Unable to get
    // Chassis Power Status" (or "Unable to set ..."): the session is dropped and it is tried again.
    re: /unable to establish|no response|connection refused|get auth capabilities error|address lookup|Unable to (get|set) Chassis/i,
  },
];

// What -v prints on every run, failed or not; not a sign of anything.
const VERBOSE_NOISE =
  /Loading IANA PEN|Get VSO Capabilities|Invalid completion code received: Invalid command|Discovered IPMB/;

const ACTION_ARG = { on: "on", off: "off", "soft-off": "soft" } as const;

export class IpmiBmc implements Bmc {
  readonly protocol = "ipmi" as const;
  readonly address: string;
  private readonly timeouts: BmcTimeouts;
  private readonly retry: RetryPolicy;
  private readonly log: CommandLog;
  private readonly shell: IpmitoolShell;
  private readonly cipherSuite: number;

  constructor(
    private readonly endpoint: IpmiEndpoint,
    options: IpmiOptions = {},
  ) {
    this.address = `${endpoint.host}:${endpoint.port ?? 623}`;
    this.timeouts = { ...DEFAULT_BMC_TIMEOUTS, ...options.timeouts };
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.log = options.log ?? noLog;
    const { host, port, username, password } = endpoint;
    this.cipherSuite = endpoint.cipherSuite ?? 17;
    // ipmitool waits about 2 x -N seconds for a silent BMC; keep that well inside our deadline.
    const perTry = Math.max(1, Math.floor(this.timeouts.commandMs / 4000));
    // -v: without it a wrong password and a silent BMC print the same line; with it the
    // RAKP exchange says which one it was.
    const args = ["-I", "lanplus", "-H", host, "-p", String(port ?? 623), "-U", username, "-E"];
    args.push("-C", String(this.cipherSuite), "-N", String(perTry), "-R", "1", "-v");
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", IPMITOOL_PASSWORD: password };
    this.shell = new IpmitoolShell(options.ipmitool ?? "ipmitool", args, env);
  }

  async powerState(): Promise<PowerState> {
    const out = await this.run(["chassis", "power", "status"], /Chassis Power is (on|off)/i);
    const m = /Chassis Power is (on|off)/i.exec(out);
    if (!m)
      throw new HardwareError(
        "BmcError",
        `IPMI BMC ${this.address}: unexpected power status reply: ${out.trim()}`,
      );
    return m[1]!.toLowerCase() as PowerState;
  }

  setPower(action: PowerAction): Promise<void> {
    return setPowerConfirmed(this, this.timeouts, action);
  }

  async requestPower(action: "on" | "off" | "soft-off"): Promise<void> {
    this.log(`ipmi ${this.address}: chassis power ${ACTION_ARG[action]}`);
    await this.run(["chassis", "power", ACTION_ARG[action]], /Chassis Power Control:/i);
  }

  async bootDevice(): Promise<BootSetting> {
    const out = await this.run(["chassis", "bootparam", "get", "5"], /Boot Device Selector/i);
    const selector = /Boot Device Selector\s*:\s*(.+)/i.exec(out)?.[1] ?? "";
    const device: BootSetting["device"] = /pxe/i.test(selector)
      ? "pxe"
      : /hard[- ]?drive|disk/i.test(selector)
        ? "disk"
        : "none";
    // The mode bit means something only while the flags are valid; ipmi_sim, like some BMCs,
    // keeps the device and reports the flags invalid.
    const mode = /Boot Flag Invalid/i.test(out)
      ? undefined
      : /BIOS EFI boot/i.test(out)
        ? "uefi"
        : /PC Compatible \(legacy\)/i.test(out)
          ? "legacy"
          : undefined;
    return { device, persistent: /all future boots/i.test(out), ...(mode ? { mode } : {}) };
  }

  async setBootDevice(device: BootDevice, options: { persistent: boolean }): Promise<void> {
    const args = ["chassis", "bootdev", device];
    const flags = [
      ...(options.persistent ? ["persistent"] : []),
      ...(this.endpoint.bootMode === "uefi" ? ["efiboot"] : []),
    ];
    if (flags.length > 0) args.push(`options=${flags.join(",")}`);
    this.log(`ipmi ${this.address}: ${args.join(" ")}`);
    await this.run(args, /Set Boot Device to/i);
    await confirmBoot(this, this.timeouts, device, this.endpoint.bootMode, () => this.bootDevice());
  }

  close(): Promise<void> {
    return this.shell.close();
  }

  /**
   * One command on the BMC's ipmitool shell, under its own deadline, retried when the failure
   * is transient. `ok` is what the command prints when it worked: the shell has no exit
   * status per command, so anything else is classified as an error.
   */
  private run(command: string[], ok: RegExp): Promise<string> {
    const line = command.join(" ");
    // IPMI keys are 20 bytes: ipmitool cuts a longer password short, and the BMC then says
    // only that authentication failed.
    const length = Buffer.byteLength(this.endpoint.password);
    if (length > 20) {
      return Promise.reject(
        new HardwareError(
          "BmcAuthFailed",
          `IPMI BMC ${this.address}: the password is ${length} bytes; IPMI takes at most 20: set a shorter one on the BMC (or reach it by Redfish)`,
          { transient: false },
        ),
      );
    }
    return retrying(this.retry, () =>
      withDeadline(
        this.timeouts.commandMs,
        "BmcTimeout",
        `IPMI BMC ${this.address}: "${line}" got no answer within ${this.timeouts.commandMs} ms`,
        async (signal) => {
          signal.addEventListener("abort", () => this.shell.kill());
          let out: string;
          try {
            out = await this.shell.run(line);
          } catch (e) {
            if (e instanceof ShellExited) throw this.classify(command, e.output);
            throw e;
          }
          if (ok.test(out)) return out;
          const err = this.classify(command, out);
          // A session that went bad (BMC rebooted, session expired) is not reused.
          if (err.transient || err.code === "BmcError") this.shell.kill();
          throw err;
        },
      ),
    );
  }

  private classify(command: string[], output: string): HardwareError {
    if (/ipmitool: (not found|No such file)/.test(output)) {
      return new HardwareError(
        "BmcUnsupported",
        `ipmitool is not installed (needed for IPMI BMC ${this.address})`,
        {
          transient: false,
        },
      );
    }
    const text = output
      .split("\n")
      .filter((line) => !VERBOSE_NOISE.test(line))
      .join(" ")
      .replace(/\s+/g, " ")
      .trim();
    const found = PATTERNS.find((p) => p.re.test(text));
    const detail = text.slice(0, 300);
    switch (found?.code) {
      case "BmcAuthFailed":
        return new HardwareError(
          "BmcAuthFailed",
          `IPMI BMC ${this.address}: authentication failed; check the BMC's credential (${detail})`,
        );
      case "CipherSuite":
        return new HardwareError(
          "BmcUnsupported",
          `IPMI BMC ${this.address}: refused cipher suite ${this.cipherSuite} (${detail}); set the BMC's cipherSuite in the inventory to one it offers (3 on older BMCs)`,
          { transient: false },
        );
      case "BmcBusy":
        return new HardwareError("BmcBusy", `IPMI BMC ${this.address}: busy (${detail})`);
      case "BmcUnsupported":
        return new HardwareError(
          "BmcUnsupported",
          `IPMI BMC ${this.address}: "${command.join(" ")}" is not supported (${detail})`,
        );
      case "BmcUnreachable":
        return new HardwareError("BmcUnreachable", `IPMI BMC ${this.address}: unreachable (${detail})`);
      default:
        return new HardwareError(
          "BmcError",
          `IPMI BMC ${this.address}: "${command.join(" ")}" failed: ${detail}`,
        );
    }
  }
}
