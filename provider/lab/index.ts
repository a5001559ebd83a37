// The built-in lab: simulated Redfish BMCs, a simulated SSH switch and simulated machines, all
// in this process (see lab.ts).
export {
  startBuiltinLab,
  LAB_ENV,
  LAB_ADDRESSES,
  type BuiltinLab,
  type BuiltinLabOptions,
  type LabMachine,
} from "./lab";
export { RedfishSim, SimSystem, type RedfishSimOptions, type SystemFaults } from "./redfish-sim";
export { SwitchSim, type SwitchFaults, type SwitchSimOptions } from "./switch-sim";
export { MachineSim, type MachineFaults, type MachinePhase } from "./machine-sim";
