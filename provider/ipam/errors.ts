// Named IPAM errors. Callers match on `code` (stable across versions), people read `message`,
// which always names the pool and the request involved.
import { CodedError } from "../coded-error";

export type IpamErrorCode =
  | "NoSpaceLeft"
  | "AlreadyAllocated"
  | "PoolOverlap"
  | "PoolNotFound"
  | "PoolInUse"
  | "InvalidCidr"
  | "InvalidRequest"
  | "ReservationNotFound"
  | "ReservationInUse";

export class IpamError extends CodedError<IpamErrorCode> {}

export const isIpamError = (e: unknown, code?: IpamErrorCode): e is IpamError =>
  e instanceof IpamError && (code === undefined || e.code === code);
