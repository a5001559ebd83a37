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
  /** A name for this change's configuration session, where the dialect uses one. */
  session?: string;
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
  /**
   * Where a port toward the network carries a VLAN only once it is added to it (a VLAN-aware
   * Linux bridge, SONiC): the lines that add the VLAN to one uplink, tagged, and take it off
   * ({port} is the uplink). Absent: uplinks carry every VLAN of the switch by their own
   * configuration (a Cumulus bridge domain, an EOS trunk left at ALL).
   */
  uplinks?: { add: string[]; remove: string[] };
  /** Lines every batch starts with (privilege, paging). */
  setup?: string[];
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
  /** Output that means a command failed even though the exit status (if any) says not. */
  failurePatterns?: RegExp[];
  /** Lines that undo a failed change's half (discard staged config, abort the session). */
  onFailure?: string[];
  /**
   * exec (default): the batch is one SSH exec, joined by `join`. shell: an interactive CLI,
   * one line at a time up to `prompt`, for switches whose exec does not take configuration.
   */
  transport?: { kind: "exec" } | { kind: "shell"; prompt: RegExp };
}

const PLACEHOLDER = /\{(session|port|vlan|nativeVlan|allowed|each)\}/g;

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
                : values[key as "session" | "port" | "vlan" | "nativeVlan"];
          if (value === undefined || value === "") throw new Error(`template "${line}" needs {${key}}`);
          return String(value);
        }),
      );
    }
  }
  return out;
}

/**
 * Every top-level JSON document in a transcript, in order: a batch's reads may print several,
 * between lines of other output. A document starts at the beginning of a line.
 */
export function jsonDocuments(text: string): unknown[] {
  const docs: unknown[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if ((c === "{" || c === "[") && (i === 0 || text[i - 1] === "\n")) {
      const end = matchingClose(text, i);
      if (end > 0) {
        try {
          docs.push(JSON.parse(text.slice(i, end + 1)));
          i = end + 1;
          continue;
        } catch {
          // not JSON after all: read on
        }
      }
    }
    i++;
  }
  return docs;
}

function matchingClose(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}
