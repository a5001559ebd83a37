import {
  check,
  diff,
  type IpReservationInputs,
  type IpReservationOutputs,
} from "../../provider/resources/ip-reservation";

const base = { project: "demo", facility: "lab1", type: "private_ipv4", quantity: 8 };

async function failures(news: Record<string, unknown>) {
  const r = await check({}, news);
  return r.failures ?? [];
}

describe("check", () => {
  test("accepts a valid request, defaults tags, and keeps engine-internal properties", async () => {
    const r = await check({}, { ...base, __provider: "serialized" });
    expect(r.failures).toBeUndefined();
    expect(r.inputs).toEqual({ ...base, tags: [], __provider: "serialized" });
  });

  test("at preview, a quantity not known yet passes; a known field is still checked", async () => {
    const { UNKNOWN } = await import("../../provider/resources/check");
    expect(await failures({ ...base, quantity: UNKNOWN })).toEqual([]);
    expect((await check({}, { ...base, quantity: UNKNOWN })).inputs).toMatchObject({ quantity: UNKNOWN });
    expect(await failures({ ...base, quantity: UNKNOWN, type: "ipv5" })).toEqual([
      expect.objectContaining({ property: "type" }),
    ]);
  });

  test("quantity 3 is refused, naming quantity and what is valid", async () => {
    expect(await failures({ ...base, quantity: 3 })).toEqual([
      {
        property: "quantity",
        reason: "quantity: quantity must be a power of two (1, 2, 4, 8, 16, ...), not 3",
      },
    ]);
  });

  test.each([
    [{ ...base, quantity: undefined }, "quantity", /exactly one of quantity, prefixLength or cidr/],
    [{ ...base, cidr: "10.0.0.0/29" }, "cidr", /only one of .* not quantity and cidr/],
    [{ ...base, facility: undefined }, "facility", /private_ipv4 reservation needs a facility/],
    [{ ...base, type: "global_ipv4" }, "facility", /global_ipv4 reservation has no facility/],
    [
      { ...base, type: "ipv5" },
      "type",
      /type must be one of public_ipv4, private_ipv4, public_ipv6, global_ipv4/,
    ],
    [{ ...base, project: "Bad Name" }, "project", /project must be 1-63 lower-case/],
    [
      { ...base, quantity: undefined, cidr: "10.0.0.1/29" },
      "cidr",
      /host bits set; the network is 10.0.0.0\/29/,
    ],
    [
      { ...base, quantity: undefined, cidr: "2001:db8::/64" },
      "cidr",
      /IPv6, but type private_ipv4 holds IPv4/,
    ],
    [{ ...base, quantity: undefined, prefixLength: 40 }, "prefixLength", /longer than IPv4 allows \(0-32\)/],
    [{ ...base, colour: "red" }, "colour", /not an input of this resource/],
    [{ ...base, tags: ["a\u0000"] }, "tags.0", /^tags.0: a tag may not contain a NUL character$/],
    // Math.log2(2^50 + 1) is 50: the check is exact.
    [{ ...base, quantity: 2 ** 50 + 1 }, "quantity", /power of two .* not 1125899906842625/],
    [{ ...base, quantity: 2 ** 64 }, "quantity", /too large to be exact; ask .* by prefixLength/],
    [{ ...base, quantity: 2.5 }, "quantity", /^quantity: quantity must be a whole number$/],
    [{ ...base, quantity: "8" }, "quantity", /^quantity: quantity must be a number$/],
    [{ ...base, quantity: undefined, prefixLength: -1 }, "prefixLength", /must be 0 or more/],
    [{ ...base, quantity: undefined, prefixLength: 24.5 }, "prefixLength", /must be a whole number/],
    [{ ...base, quantity: undefined, cidr: "010.0.0.0/29" }, "cidr", /not an IPv4 address.*leading zeros/],
  ])("refuses %j on %s", async (news, property, reason) => {
    const f = await failures(news);
    expect(f.map((x) => x.property)).toContain(property);
    expect(f.find((x) => x.property === property)!.reason).toMatch(reason);
  });
});

test("an exact cidr is kept as the store writes it, so the next diff sees no change", async () => {
  const r = await check({}, { ...base, type: "public_ipv6", quantity: undefined, cidr: "2001:DB8:0::/64" });
  expect(r.inputs?.cidr).toBe("2001:db8::/64");
  const olds = {
    ...r.inputs,
    cidr: "2001:db8::/64",
    prefixLength: 64,
    pool: "p",
  } as unknown as IpReservationOutputs;
  const news = { ...r.inputs, cidr: "2001:DB8::/64" } as unknown as IpReservationInputs;
  expect((await diff("id", olds, news)).replaces).toEqual([]);
});

describe("diff", () => {
  const olds = {
    ...base,
    tags: ["a"],
    cidr: "10.0.0.8/29",
    prefixLength: 29,
    pool: "p",
  } as unknown as IpReservationOutputs;
  const news = { ...base, tags: ["a"] } as unknown as IpReservationInputs;

  test("nothing changed", async () => {
    expect(await diff("id", olds, news)).toEqual({
      changes: false,
      replaces: [],
      deleteBeforeReplace: false,
    });
  });

  test("tags and description change in place", async () => {
    expect(await diff("id", olds, { ...base, tags: ["b"], description: "x" } as never)).toEqual({
      changes: true,
      replaces: [],
      deleteBeforeReplace: false,
    });
  });

  test("the same size asked another way is no change", async () => {
    const r = await diff("id", olds, {
      ...base,
      quantity: undefined,
      prefixLength: 29,
      tags: ["a"],
    } as never);
    expect(r.changes).toBe(false);
    const exact = await diff("id", olds, {
      ...base,
      quantity: undefined,
      cidr: "10.0.0.8/29",
      tags: ["a"],
    } as never);
    expect(exact.changes).toBe(false);
  });

  test("size, type, facility, project or exact block changes replace", async () => {
    expect((await diff("id", olds, { ...news, quantity: 16 } as never)).replaces).toEqual(["quantity"]);
    expect((await diff("id", olds, { ...news, facility: "lab2" } as never)).replaces).toEqual(["facility"]);
    expect((await diff("id", olds, { ...news, project: "other" } as never)).replaces).toEqual(["project"]);
    const exact = await diff("id", olds, {
      ...base,
      quantity: undefined,
      cidr: "10.0.0.16/29",
      tags: ["a"],
    } as never);
    expect(exact.replaces).toEqual(["cidr"]);
  });
});
