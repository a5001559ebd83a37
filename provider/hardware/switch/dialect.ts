// A switch dialect is data: command templates, output parsers and error patterns, plus a
// small override where a change depends on what the port holds now. The driver (driver.ts)
// runs every dialect the same way.
import type { HardwareErrorCode } from "../errors";
import type { PortConfig } from "./types";

export interface SwitchState {
  vlans: number[];
  ports: PortConfig[];
}

export interface ChangeValues {
  port?: string;
  vlan?: number;
  nativeVlan?: number;
  allowedVlans?: number[];
}

/** Command lines for a change; a function when they depend on the port's current config. */
export type Template = string[] | ((values: ChangeValues, current: PortConfig) => string[]);

export interface Dialect {
  name: string;
  port: { pattern: RegExp; example: string };
  /** How several command lines travel in one SSH exec, so a change is one round trip. */
  join(lines: string[]): string;
  changes: {
    ensureVlan: Template;
    removeVlan: Template;
    setAccess: Template;
    /** Absent: this dialect cannot carry trunks (e.g. bridges without 802.1Q). */
    setTrunk?: Template;
    resetPort: Template;
  };
  /** Lines that make a change permanent (apply, save); they follow every change. */
  commit?: string[];
  reads: {
    /** Reads one port; its output is the last thing a change's batch prints. */
    port: string[];
    /** Reads every VLAN and every port's membership. */
    state: string[];
  };
  parsePort(stdout: string, port: string): PortConfig;
  parseState(stdout: string): SwitchState;
  /** Matched against stderr and stdout of a failed batch; the first match names the error. */
  errors: { pattern: RegExp; code: HardwareErrorCode }[];
  /** Some switches print errors and still exit 0; these patterns mark such output as failed. */
  failsWithExitZero?: RegExp[];
}

const PLACEHOLDER = /\{(port|vlan|nativeVlan|allowed|each)\}/g;

/**
 * Fills a template. `{allowed}` is the comma-joined list; a line holding `{each}` is repeated
 * once per allowed VLAN. Values were validated before they got here (validate.ts).
 */
export function render(lines: string[], values: ChangeValues): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const each = line.includes("{each}") ? (values.allowedVlans ?? []) : [undefined];
    for (const v of each) {
      out.push(
        line.replace(PLACEHOLDER, (_, key: string) => {
          const value =
            key === "each"
              ? v
              : key === "allowed"
                ? values.allowedVlans?.join(",")
                : values[key as "port" | "vlan" | "nativeVlan"];
          if (value === undefined || value === "") throw new Error(`template "${line}" needs {${key}}`);
          return String(value);
        }),
      );
    }
  }
  return out;
}

/** The JSON document a batch printed last (the read that closes a change). */
export function lastJson(stdout: string): unknown {
  const text = stdout.trimEnd();
  const close = text.at(-1);
  const open = close === "]" ? "[" : close === "}" ? "{" : undefined;
  if (!open) throw new Error(`expected JSON at the end of the output, got: ${text.slice(-200)}`);
  // Try each opening bracket from the right until the tail parses: earlier commands may print too.
  for (let i = text.lastIndexOf(open); i >= 0; i = text.lastIndexOf(open, i - 1)) {
    if (i > 0 && text[i - 1] !== "\n") continue;
    try {
      return JSON.parse(text.slice(i));
    } catch {
      // keep looking further left
    }
  }
  throw new Error(`no JSON document at the end of the output: ${text.slice(-200)}`);
}
