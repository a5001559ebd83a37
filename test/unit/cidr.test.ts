import fc from "fast-check";
import { describeBlock } from "../../provider/ipam/addresses";
import { mergeUp, splitDown } from "../../provider/ipam/buddy";
import {
  blockSize,
  contains,
  formatCidr,
  overlaps,
  parseCidr,
  prefixForQuantity,
  toHex,
  fromHex,
} from "../../provider/ipam/cidr";
import { IpamError } from "../../provider/ipam/errors";

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return e instanceof IpamError ? `${e.code}: ${e.message}` : `other: ${(e as Error).message}`;
  }
  return "no error";
};

describe("parseCidr", () => {
  test("parses IPv4 and IPv6 exactly", () => {
    expect(parseCidr("10.1.2.0/24")).toEqual({ family: 4, network: 0x0a010200n, prefix: 24 });
    expect(parseCidr("2001:db8::/32")).toEqual({ family: 6, network: 0x20010db8n << 96n, prefix: 32 });
    expect(parseCidr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128").network).toBe((1n << 128n) - 1n);
  });

  test("an IPv6 address with a dotted IPv4 tail means those 32 bits where they stand (RFC 4291)", () => {
    // PostgreSQL prints ::8000:0 as ::128.0.0.0; ipaddr.js alone reads that as ::ffff:8000:0.
    expect(parseCidr("::128.0.0.0/97")).toEqual({ family: 6, network: 0x80000000n, prefix: 97 });
    expect(formatCidr(parseCidr("::128.0.0.0/97"))).toBe("::8000:0/97");
    expect(parseCidr("::ffff:1.2.3.4/128").network).toBe(0xffff01020304n);
    expect(parseCidr("64:ff9b::1.2.3.0/120").network).toBe((0x64ff9bn << 96n) | 0x01020300n);
    expect(code(() => parseCidr("::1.2.3.256/128"))).toMatch(/not an IPv4 or IPv6 address/);
  });

  test("refuses host bits and names the network", () => {
    expect(code(() => parseCidr("10.0.0.1/24"))).toBe(
      'InvalidCidr: "10.0.0.1/24" has host bits set; the network is 10.0.0.0/24',
    );
    expect(code(() => parseCidr("2001:db8::1/64"))).toMatch(/host bits set; the network is 2001:db8::\/64/);
  });

  test("refuses malformed input with a clear message", () => {
    expect(code(() => parseCidr("10.0.0.0"))).toMatch(/InvalidCidr: .* not in CIDR notation/);
    expect(code(() => parseCidr("10.0.0.0/33"))).toMatch(/IPv4 allows 0 to 32/);
    expect(code(() => parseCidr("10.0.0.0/-1"))).toMatch(/InvalidCidr/);
    expect(code(() => parseCidr("300.0.0.0/8"))).toMatch(
      /"300.0.0.0" is not an IPv4 address: IPv4 is four decimal/,
    );
    // inet_aton's forms, which ipaddr.js takes too, would put a pool somewhere else entirely.
    expect(code(() => parseCidr("010.20.0.0/16"))).toMatch(
      /"010.20.0.0" is not an IPv4 address.*leading zeros/,
    );
    expect(code(() => parseCidr("0xac100000/16"))).toMatch(
      /InvalidCidr: "0xac100000" is not an IPv4 address/,
    );
    expect(code(() => parseCidr("10/8"))).toMatch(/InvalidCidr: "10" is not an IPv4 address/);
    expect(code(() => parseCidr("::ffff:010.0.0.1/128"))).toMatch(/not an IPv4 or IPv6 address/);
    expect(code(() => parseCidr("fe80::%eth0/64"))).toMatch(/zone index/);
    expect(formatCidr(parseCidr("::ffff:10.0.0.0/120"))).toBe("::ffff:a00:0/120");
    expect(formatCidr(parseCidr("0.0.0.0/0"))).toBe("0.0.0.0/0");
    expect(code(() => parseCidr("::/129"))).toMatch(/IPv6 allows 0 to 128/);
  });

  test("round-trips through text and hex", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.nat(128), (v4, raw, p) => {
        const bits = v4 ? 32 : 128;
        const prefix = p % (bits + 1);
        const value = v4 ? raw & 0xffffffffn : raw;
        const size = 1n << BigInt(bits - prefix);
        const block = { family: (v4 ? 4 : 6) as 4 | 6, network: value - (value % size), prefix };
        expect(parseCidr(formatCidr(block))).toEqual(block);
        expect(fromHex(toHex(block.family, block.network))).toBe(block.network);
      }),
    );
  });
});

test("hex keys sort like addresses", () => {
  const values = [0n, 1n, 255n, 256n, 0xffffffffn];
  const sorted = values.map((v) => toHex(4, v)).sort();
  expect(sorted.map(fromHex)).toEqual(values);
});

test("containment and overlap", () => {
  const a = parseCidr("10.0.0.0/24");
  expect(contains(a, parseCidr("10.0.0.128/25"))).toBe(true);
  expect(contains(a, parseCidr("10.0.1.0/25"))).toBe(false);
  expect(overlaps(a, parseCidr("10.0.0.0/16"))).toBe(true);
  expect(overlaps(a, parseCidr("10.0.1.0/24"))).toBe(false);
  expect(overlaps(a, parseCidr("::/0"))).toBe(false);
});

test("quantity must be a power of two", () => {
  expect(prefixForQuantity(4, 8)).toBe(29);
  expect(prefixForQuantity(6, 1)).toBe(128);
  expect(code(() => prefixForQuantity(4, 3))).toBe(
    "InvalidRequest: quantity 3 is not a power of two (1, 2, 4, 8, ...)",
  );
  expect(code(() => prefixForQuantity(4, 2 ** 33))).toMatch(/more than IPv4 has/);
});

describe("describeBlock follows the RFCs", () => {
  test("IPv4 /29: network, gateway, broadcast reserved", () => {
    expect(describeBlock(parseCidr("192.0.2.8/29"))).toEqual({
      cidr: "192.0.2.8/29",
      network: "192.0.2.8",
      prefixLength: 29,
      netmask: "255.255.255.248",
      family: 4,
      size: "8",
      gateway: "192.0.2.9",
      broadcast: "192.0.2.15",
      firstUsable: "192.0.2.9",
      lastUsable: "192.0.2.14",
      addresses: ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14"],
    });
  });

  test("IPv4 /31 is point-to-point (RFC 3021): both addresses usable, no broadcast", () => {
    const d = describeBlock(parseCidr("192.0.2.0/31"));
    expect(d).toMatchObject({ gateway: "192.0.2.0", addresses: ["192.0.2.0", "192.0.2.1"] });
    expect(d.broadcast).toBeUndefined();
  });

  test("IPv4 /32 is one address with no gateway", () => {
    const d = describeBlock(parseCidr("192.0.2.7/32"));
    expect(d.gateway).toBeUndefined();
    expect(d.addresses).toEqual(["192.0.2.7"]);
  });

  test("IPv6 /127 is point-to-point (RFC 6164)", () => {
    expect(describeBlock(parseCidr("2001:db8::/127"))).toMatchObject({
      gateway: "2001:db8::",
      addresses: ["2001:db8::", "2001:db8::1"],
    });
  });

  test("IPv6 /64 has no broadcast, a gateway, and too many addresses to list", () => {
    const d = describeBlock(parseCidr("2001:db8:1:2::/64"));
    expect(d).toMatchObject({
      gateway: "2001:db8:1:2::1",
      size: "18446744073709551616",
      netmask: "ffff:ffff:ffff:ffff::",
    });
    expect(d.broadcast).toBeUndefined();
    expect(d.addresses).toBeUndefined();
  });
});

describe("buddy steps", () => {
  test("splitting a /24 to a /27 leaves one free buddy at each level", () => {
    const { taken, remainders } = splitDown(parseCidr("10.0.0.0/24"), 27);
    expect(formatCidr(taken)).toBe("10.0.0.0/27");
    expect(remainders.map(formatCidr)).toEqual(["10.0.0.128/25", "10.0.0.64/26", "10.0.0.32/27"]);
  });

  test("splitting toward a target takes exactly that block", () => {
    const { taken, remainders } = splitDown(parseCidr("10.0.0.0/24"), 26, parseCidr("10.0.0.192/26"));
    expect(formatCidr(taken)).toBe("10.0.0.192/26");
    expect(remainders.map(formatCidr)).toEqual(["10.0.0.0/25", "10.0.0.128/26"]);
  });

  test("split then merge restores the pool, for any size in either family", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.nat(40), (v4, extra) => {
        const pool = v4 ? parseCidr("10.0.0.0/16") : parseCidr("2001:db8::/48");
        const prefix = pool.prefix + (extra % ((v4 ? 32 : 128) - pool.prefix + 1));
        const { taken, remainders } = splitDown(pool, prefix);
        const free = new Set(remainders.map(formatCidr));
        let total = blockSize(taken);
        for (const r of remainders) total += blockSize(r);
        expect(total).toBe(blockSize(pool));
        const merged = mergeUp(taken, pool.prefix, (b) => free.delete(formatCidr(b)));
        expect(merged).toEqual(pool);
        expect(free.size).toBe(0);
      }),
    );
  });
});
