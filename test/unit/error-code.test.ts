// The code `baremetal` prints before an error's message, for each kind of error it meets.
import { errorCode } from "../../cli/error-code";
import { CodedError } from "../../provider/coded-error";
import { InventoryError } from "../../provider/inventory/schema";

const pg = (code: string) => Object.assign(new Error("pg says no"), { code, severity: "ERROR" });

test.each([
  [new CodedError("NoSpaceLeft", "pool full"), "NoSpaceLeft"],
  [new InventoryError(["facilities.0.vlans: Required"]), "InventoryInvalid"],
  [pg("42501"), "AccessDenied"],
  [pg("28P01"), "AuthFailed"],
  [pg("3D000"), "StoreNotFound"],
  [pg("23505"), "DatabaseError"],
  [Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }), "Unreachable"],
  [new Error("--since: yesterday-ish is not a time"), undefined],
])("%s: %s", (err, code) => {
  expect(errorCode(err)).toBe(code);
});
