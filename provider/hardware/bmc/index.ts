// Opens the BMC of a machine from its endpoints: Redfish first, then IPMI, when it has both.
import { FallbackBmc } from "./fallback";
import { IpmiBmc, type IpmiEndpoint } from "./ipmi";
import { RedfishBmc, type RedfishEndpoint } from "./redfish";
import type { Bmc, BmcTimeouts } from "./types";
import type { RetryPolicy } from "../timing";
import type { CommandLog } from "../commands";

export * from "./types";
export { IpmiBmc, type IpmiEndpoint } from "./ipmi";
export { RedfishBmc, type RedfishEndpoint } from "./redfish";
export { FallbackBmc } from "./fallback";

export interface BmcEndpoints {
  redfish?: RedfishEndpoint;
  ipmi?: IpmiEndpoint;
}

export function openBmc(
  endpoints: BmcEndpoints,
  options: { timeouts?: Partial<BmcTimeouts>; retry?: RetryPolicy; log?: CommandLog } = {},
): Bmc {
  const bmcs: Bmc[] = [];
  if (endpoints.redfish) bmcs.push(new RedfishBmc(endpoints.redfish, options));
  if (endpoints.ipmi) bmcs.push(new IpmiBmc(endpoints.ipmi, options));
  if (bmcs.length === 0) throw new Error("a machine needs a Redfish or an IPMI endpoint");
  return bmcs.length === 1 ? bmcs[0]! : new FallbackBmc(bmcs);
}
