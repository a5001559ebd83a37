// Named hardware errors. Callers match on `code`; messages name the device by its address and
// never carry a credential. `transient` says whether trying again may help (a reset
// connection, a busy BMC); authentication and bad input are permanent.

export type HardwareErrorCode =
  | "BmcUnreachable"
  | "BmcAuthFailed"
  | "BmcTimeout"
  | "BmcUnsupported"
  | "BmcUntrusted"
  | "BmcBusy"
  | "BmcError"
  | "SwitchUnreachable"
  | "SwitchAuthFailed"
  | "SwitchHostKeyMismatch"
  | "SwitchTimeout"
  | "SwitchCommandFailed"
  | "SwitchLocked"
  | "SwitchBusy"
  | "SwitchUnsupported"
  | "PortNotFound"
  | "VlanNotFound"
  | "VlanInUse"
  | "InvalidPortName"
  | "InvalidVlanId";

const TRANSIENT: ReadonlySet<HardwareErrorCode> = new Set([
  "BmcUnreachable",
  "BmcTimeout",
  "BmcBusy",
  "SwitchUnreachable",
  "SwitchTimeout",
  "SwitchLocked",
]);

export class HardwareError extends Error {
  readonly transient: boolean;
  /** How long the device asked to be left alone before a retry (Retry-After), if it said. */
  readonly retryAfterMs?: number;
  constructor(
    readonly code: HardwareErrorCode,
    message: string,
    options?: { transient?: boolean; cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = code;
    this.transient = options?.transient ?? TRANSIENT.has(code);
    if (options?.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}

export const isHardwareError = (e: unknown, code?: HardwareErrorCode): e is HardwareError =>
  e instanceof HardwareError && (code === undefined || e.code === code);
