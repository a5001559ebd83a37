// Named refusals about VLANs. Callers match on `code`.
import { CodedError } from "../coded-error";

export type VlanErrorCode =
  "VlanNotFound" | "VlanTaken" | "VlanOutOfRange" | "NoVlanAvailable" | "VlanInUse" | "FacilityNotFound";

export class VlanError extends CodedError<VlanErrorCode> {}

export const isVlanError = (e: unknown, code?: VlanErrorCode): e is VlanError =>
  e instanceof VlanError && (code === undefined || e.code === code);
