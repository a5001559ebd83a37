// Named refusals of inventory changes and machine state moves. Callers match on `code`.
import { CodedError } from "../coded-error";

export type InventoryConflictCode =
  | "MachineNotFound"
  | "MachineInUse"
  | "MachineStateConflict"
  | "PlanInUse"
  | "FacilityInUse"
  | "SwitchInUse"
  | "DuplicateHardware"
  | "NoMachineAvailable";

export class InventoryConflict extends CodedError<InventoryConflictCode> {}
