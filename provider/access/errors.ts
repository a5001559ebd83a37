// Named refusals about projects and who may act in them. Callers match on `code`.
import { CodedError } from "../coded-error";

export type AccessErrorCode =
  "AccessDenied" | "ProjectNotFound" | "ProjectExists" | "MemberNotFound" | "MemberExists" | "LastOwner";

export class AccessError extends CodedError<AccessErrorCode> {}

export const isAccessError = (e: unknown, code?: AccessErrorCode): e is AccessError =>
  e instanceof AccessError && (code === undefined || e.code === code);
