// What a server gets out of a reservation: host addresses and routed subnets both come from the
// block's hosts, so its network, gateway and broadcast addresses stay the block's and its
// router's; only the whole block takes them.
import { pickAssignment } from "../../provider/ipam/assign";
import { formatCidr, parseCidr } from "../../provider/ipam/cidr";

const pick = (reservation: string, taken: string[], want: { prefixLength: number } | { cidr: string }) =>
  formatCidr(
    pickAssignment(
      parseCidr(reservation),
      taken.map(parseCidr),
      "cidr" in want ? { block: parseCidr(want.cidr) } : want,
    ),
  );

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return `${(e as { code?: string }).code}: ${(e as Error).message}`;
  }
  throw new Error("not refused");
};

test("a subnet comes after the network address and the gateway, and before the broadcast", () => {
  expect(pick("10.0.0.0/28", [], { prefixLength: 30 })).toBe("10.0.0.4/30");
  expect(pick("10.0.0.0/27", [], { prefixLength: 29 })).toBe("10.0.0.8/29");
  expect(pick("10.0.0.0/28", ["10.0.0.2/32"], { prefixLength: 31 })).toBe("10.0.0.4/31");
});

test("a subnet that would take the broadcast address is not given", () => {
  // 10.0.0.12/30 holds 10.0.0.15, the broadcast: with .4 and .8 taken there is no room.
  expect(refusal(() => pick("10.0.0.0/28", ["10.0.0.4/30", "10.0.0.8/30"], { prefixLength: 30 }))).toMatch(
    /^NoSpaceLeft: /,
  );
  // Neither half of a /24 can go: one holds the network and gateway, the other the broadcast.
  expect(refusal(() => pick("10.0.0.0/24", [], { prefixLength: 25 }))).toMatch(/^NoSpaceLeft: /);
});

test("the whole block may go to one server, network, gateway and broadcast included", () => {
  expect(pick("10.0.0.0/28", [], { prefixLength: 28 })).toBe("10.0.0.0/28");
  expect(pick("10.0.0.0/28", [], { cidr: "10.0.0.0/28" })).toBe("10.0.0.0/28");
});

test("an exact subnet that takes the block's own addresses is refused by name", () => {
  expect(refusal(() => pick("10.0.0.0/28", [], { cidr: "10.0.0.0/30" }))).toBe(
    "InvalidRequest: 10.0.0.0/30 takes the network address and the gateway of 10.0.0.0/28: a subnet of " +
      "it lies within its hosts (hosts are 10.0.0.2 to 10.0.0.14), or is the whole block",
  );
  expect(refusal(() => pick("10.0.0.0/28", [], { cidr: "10.0.0.12/30" }))).toMatch(
    /^InvalidRequest: 10\.0\.0\.12\/30 takes the broadcast address of 10\.0\.0\.0\/28/,
  );
  expect(pick("10.0.0.0/28", [], { cidr: "10.0.0.8/30" })).toBe("10.0.0.8/30");
});

test("IPv6: a subnet skips the network address and the gateway; there is no broadcast", () => {
  expect(pick("2001:db8::/64", [], { prefixLength: 80 })).toBe("2001:db8:0:0:1::/80");
  expect(pick("2001:db8::/126", [], { prefixLength: 127 })).toBe("2001:db8::2/127");
  expect(refusal(() => pick("2001:db8::/64", [], { cidr: "2001:db8::/80" }))).toMatch(
    /^InvalidRequest: 2001:db8::\/80 takes the network address and the gateway of 2001:db8::\/64/,
  );
});

test("host addresses are as before: never the network, gateway or broadcast", () => {
  expect(pick("10.0.0.0/28", [], { prefixLength: 32 })).toBe("10.0.0.2/32");
  expect(pick("10.0.0.0/31", [], { prefixLength: 32 })).toBe("10.0.0.1/32");
  expect(pick("10.0.0.7/32", [], { prefixLength: 32 })).toBe("10.0.0.7/32");
});
