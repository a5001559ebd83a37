import { ConfigError, DEFAULT_STORE, resolveConfig } from "../../provider/config";

const none = () => undefined;

test("stack config wins over the environment, which wins over the default", () => {
  const env = { BAREMETAL_STORE: "sqlite:/env.db", BAREMETAL_ACTOR: "ci" };
  expect(resolveConfig((k) => ({ "baremetal:store": "sqlite:/stack.db" })[k], env).store).toBe(
    "sqlite:/stack.db",
  );
  expect(resolveConfig(none, env)).toMatchObject({ store: "sqlite:/env.db", actor: "ci", pools: [] });
  expect(resolveConfig(none, {}).store).toBe(DEFAULT_STORE);
});

test("pools from stack config are validated and name the bad field", () => {
  const pools = JSON.stringify([{ name: "p", type: "private_ipv4", cidr: "10.0.0.0/24", facility: "lab1" }]);
  expect(resolveConfig((k) => (k === "baremetal:pools" ? pools : undefined), {}).pools).toEqual([
    {
      name: "p",
      type: "private_ipv4",
      cidr: "10.0.0.0/24",
      facility: "lab1",
      project: null,
      description: null,
    },
  ]);
  const bad = JSON.stringify([{ name: "p", type: "private", cidr: "10.0.0.0/24" }]);
  expect(() => resolveConfig((k) => (k === "baremetal:pools" ? bad : undefined), {})).toThrow(ConfigError);
  expect(() => resolveConfig((k) => (k === "baremetal:pools" ? bad : undefined), {})).toThrow(
    /baremetal:pools\[0.type\]/,
  );
  expect(() => resolveConfig((k) => (k === "baremetal:pools" ? "{" : undefined), {})).toThrow(/JSON list/);
});
