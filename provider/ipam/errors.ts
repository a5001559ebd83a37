// Named IPAM errors. Callers match on `code` (stable across versions), people read `message`,
// which always names the pool and the request involved.

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

export class IpamError extends Error {
  constructor(
    readonly code: IpamErrorCode,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

export const isIpamError = (e: unknown, code?: IpamErrorCode): e is IpamError =>
  e instanceof IpamError && (code === undefined || e.code === code);
