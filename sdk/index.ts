// pulumi-baremetal: run your own racks as code.
export { IpReservation, type IpReservationArgs, type IpReservationType } from "./ip-reservation";
export {
  Server,
  type ServerArgs,
  type ServerIpAddress,
  type OperatingSystem,
  type NetworkType,
} from "./server";
export { Vlan, type VlanArgs } from "./vlan";
export { ProjectMember, type ProjectMemberArgs, type ProjectRole } from "./project-member";
