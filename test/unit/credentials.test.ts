import { resolveCredential } from "../../provider/inventory/credentials";

test("an env reference reads the variable; a missing one is named, not guessed", () => {
  expect(resolveCredential({ env: "BMC_PW" }, "machine r1-01 bmc", { env: { BMC_PW: "s3cret" } })).toBe(
    "s3cret",
  );
  expect(() => resolveCredential({ env: "BMC_PW" }, "machine r1-01 bmc", { env: {} })).toThrow(
    "machine r1-01 bmc: environment variable BMC_PW is not set",
  );
});

test("a secret reference reads the stack's baremetal config", () => {
  expect(resolveCredential({ secret: "tor1Key" }, "switch tor1", { secrets: { tor1Key: "KEY" } })).toBe(
    "KEY",
  );
  expect(() => resolveCredential({ secret: "tor1Key" }, "switch tor1", { secrets: {} })).toThrow(
    "switch tor1: config key baremetal:tor1Key is not set (pulumi config set --secret baremetal:tor1Key ...; the baremetal command reads it from the environment variable BAREMETAL_SECRET_tor1Key)",
  );
});
