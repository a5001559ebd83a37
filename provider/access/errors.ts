// Named refusals about projects and who may act in them. Callers match on `code`.

export type AccessErrorCode =
  "AccessDenied" | "ProjectNotFound" | "ProjectExists" | "MemberNotFound" | "MemberExists" | "LastOwner";

export class AccessError extends Error {
  constructor(
    readonly code: AccessErrorCode,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

export const isAccessError = (e: unknown, code?: AccessErrorCode): e is AccessError =>
  e instanceof AccessError && (code === undefined || e.code === code);
