import { openStore } from "../../provider/store/open";
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
    /baremetal:pools\[0\]\.type: /,
  );
  expect(() => resolveConfig((k) => (k === "baremetal:pools" ? "{" : undefined), {})).toThrow(/JSON list/);
});

test("pools are checked whole before any reaches the store, and kept as the store writes them", () => {
  const config = (list: unknown[]) => () =>
    resolveConfig((k) => (k === "baremetal:pools" ? JSON.stringify(list) : undefined), {});
  const pool = { name: "p", type: "public_ipv6", cidr: "2001:DB8::/32", facility: "lab1" };
  expect(config([pool])().pools[0]!.cidr).toBe("2001:db8::/32");
  expect(config([{ ...pool, cidr: "2001:db8::1/32" }])).toThrow(
    /^baremetal:pools\[0\]: "2001:db8::1\/32" has host bits set; the network is 2001:db8::\/32$/,
  );
  expect(config([{ ...pool, type: "private_ipv4" }])).toThrow(
    /^baremetal:pools\[0\]: pool p: .* is IPv6, but/,
  );
  expect(config([pool, { ...pool, name: "q", cidr: "2001:db8:1::/48" }])).toThrow(
    /^baremetal:pools\[1\]: .*overlaps/,
  );
});

test("a store location with a scheme that is not a store's is refused, not taken as a file name", async () => {
  for (const location of ["mysql://db/ipam", "postgress://u@h/db", "http://x/y"]) {
    await expect(openStore(location, { baseDir: "/nonexistent" })).rejects.toThrow(
      /is not a store; use postgres:\/\/user@host:port\/database or sqlite:<file>/,
    );
  }
});

test("the servers' resolvers: the site's own (baremetal:dns or BAREMETAL_DNS), else public ones", () => {
  const dns = (value: string | undefined, env: NodeJS.ProcessEnv = {}) =>
    resolveConfig((k) => (k === "baremetal:dns" ? value : undefined), env).dns;
  expect(dns(undefined)).toEqual(["1.1.1.1", "2606:4700:4700::1111"]);
  expect(dns("10.0.0.53, 2001:db8::53")).toEqual(["10.0.0.53", "2001:db8::53"]);
  expect(dns(undefined, { BAREMETAL_DNS: "10.1.1.1" })).toEqual(["10.1.1.1"]);
  expect(() => dns("10.0.0.53,resolver.local")).toThrow(
    'baremetal:dns: "resolver.local" is not an IP address; give resolvers\' addresses separated by commas, e.g. 10.0.0.53,2001:db8::53',
  );
  expect(() => dns("010.0.0.1")).toThrow(/is not an IP address/);
});
