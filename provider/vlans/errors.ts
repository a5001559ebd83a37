// Named refusals about VLANs. Callers match on `code`.

export type VlanErrorCode =
  "VlanNotFound" | "VlanTaken" | "VlanOutOfRange" | "NoVlanAvailable" | "VlanInUse" | "FacilityNotFound";

export class VlanError extends Error {
  constructor(
    readonly code: VlanErrorCode,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

export const isVlanError = (e: unknown, code?: VlanErrorCode): e is VlanError =>
  e instanceof VlanError && (code === undefined || e.code === code);
