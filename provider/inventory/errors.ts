// Named refusals of inventory changes and machine state moves. Callers match on `code`.

export type InventoryConflictCode =
  | "MachineNotFound"
  | "MachineInUse"
  | "MachineStateConflict"
  | "PlanInUse"
  | "SwitchInUse"
  | "DuplicateHardware"
  | "NoMachineAvailable";

export class InventoryConflict extends Error {
  constructor(
    readonly code: InventoryConflictCode,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}
