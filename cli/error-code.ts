// What `baremetal: <Code>: <message>` says for each error a command can end with.
import { InventoryError } from "../provider/inventory/schema";

// PostgreSQL's SQLSTATEs a user meets, by name.
const SQLSTATE: Record<string, string> = {
  "42501": "AccessDenied",
  "28P01": "AuthFailed",
  "28000": "AuthFailed",
  "3D000": "StoreNotFound",
};
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ETIMEDOUT",
  "ECONNRESET",
  "EAI_AGAIN",
]);

/** The name a script can match: our own codes, and those of what we talk to. */
export function errorCode(err: Error & { code?: string; severity?: string }): string | undefined {
  if (err.code && err.name === err.code) return err.code;
  if (err instanceof InventoryError) return "InventoryInvalid";
  // node-postgres: a server error has a severity and a five-character SQLSTATE.
  if (err.severity && err.code && /^[0-9A-Z]{5}$/.test(err.code))
    return SQLSTATE[err.code] ?? "DatabaseError";
  if (err.code && UNREACHABLE.has(err.code)) return "Unreachable";
  return undefined;
}
