// The store contract, run against every backend on a real database.
import Database from "better-sqlite3";
import { Client } from "pg";
import { IpamError } from "../../provider/ipam/errors";
import type { Store } from "../../provider/store/store";
import { backends, freshStore, type TestBackend } from "../helpers/backends";
import { failure } from "../helpers/failure";
import { allocateRequest } from "../helpers/requests";

/** Bypasses the allocator to prove the database itself refuses an overlapping block. */
async function rawInsertOverlap(backend: TestBackend, location: string): Promise<void> {
  if (backend.name === "sqlite") {
    const db = new Database(location.slice("sqlite:".length));
    try {
      const r = db.prepare("SELECT pool_id, start_hex FROM reservations LIMIT 1").get() as {
        pool_id: number;
        start_hex: string;
      };
      // One address inside the existing block, not at its start: only an overlap check can refuse it.
      const inside = (BigInt("0x" + r.start_hex) + 1n).toString(16).padStart(8, "0");
      db.prepare(
        `INSERT INTO reservations (id, pool_id, project, cidr, start_hex, end_hex, prefix_len, created_by, created_at, updated_at)
         VALUES ('x', ?, 'p', 'x', ?, ?, 32, 'raw', '', '')`,
      ).run(r.pool_id, inside, inside);
    } finally {
      db.close();
    }
    return;
  }
  const c = new Client({ connectionString: location });
  await c.connect();
  try {
    await c.query(
      `INSERT INTO reservations (id, pool_id, project, cidr, created_by)
       SELECT gen_random_uuid(), pool_id, 'p', set_masklen(host(cidr)::inet + 1, 32)::cidr, 'raw' FROM reservations LIMIT 1`,
    );
  } finally {
    await c.end();
  }
}

const req = allocateRequest;

const errorOf = (p: Promise<unknown>) => failure(p, IpamError);

describe.each(backends)("store on $name", (backend) => {
  let store: Store;
  let ctx: Awaited<ReturnType<typeof freshStore>>;

  beforeEach(async () => {
    ctx = await freshStore(backend);
    store = ctx.store;
    await store.ensureFacility("lab1", "Lab one", "test");
    await store.addPool(
      { name: "lab1-private", type: "private_ipv4", cidr: "10.0.0.0/24", facility: "lab1", project: null },
      "test",
    );
  });
  afterEach(() => ctx.cleanup());

  test("migrations are applied once and report their state", async () => {
    const again = await store.migrate();
    expect(again.current).toBe(again.latest);
    expect(again.pending).toEqual([]);
    expect(again.applied.map((m) => m.version)).toEqual([...Array(again.latest).keys()].map((i) => i + 1));
  });

  test("pools: overlapping or wrong-family pools are refused and nothing is written", async () => {
    const overlap = await errorOf(
      store.addPool(
        { name: "p2", type: "private_ipv4", cidr: "10.0.0.128/25", facility: "lab1", project: null },
        "t",
      ),
    );
    expect(overlap.code).toBe("PoolOverlap");
    expect(overlap.message).toBe("pool p2 (10.0.0.128/25) overlaps pool lab1-private (10.0.0.0/24)");
    const family = await errorOf(
      store.addPool(
        { name: "p3", type: "private_ipv4", cidr: "2001:db8::/48", facility: "lab1", project: null },
        "t",
      ),
    );
    expect(family.code).toBe("InvalidCidr");
    const project = await errorOf(
      store.addPool(
        { name: "p4", type: "private_ipv4", cidr: "10.9.0.0/24", facility: "lab1", project: "Bad Project" },
        "t",
      ),
    );
    expect(project.message).toMatch(/^pool p4: project "Bad Project" is invalid: use 1-63 lower-case/);
    expect((await store.listPools()).map((p) => p.name)).toEqual(["lab1-private"]);
    const facility = await errorOf(store.ensureFacility("BAD FAC", null, "t"));
    expect([facility.code, facility.message]).toEqual([
      "InvalidRequest",
      'facility code "BAD FAC" is invalid: use 1-63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
    ]);
    expect((await store.listFacilities()).map((f) => f.code)).toEqual(["lab1"]);
  });

  test("pools: space their type cannot hold is refused by name (private in public, never a host's)", async () => {
    const refusal = async (type: "public_ipv4" | "private_ipv4" | "public_ipv6", cidr: string) => {
      const e = await errorOf(
        store.addPool({ name: "px", type, cidr, facility: "lab1", project: null }, "t"),
      );
      return `${e.code}: ${e.message}`;
    };
    expect(await refusal("public_ipv4", "192.168.10.0/24")).toBe(
      "InvalidCidr: pool px: 192.168.10.0/24 is in 192.168.0.0/16, private address space (RFC 1918): " +
        "a public_ipv4 pool holds only public addresses; use a private_ipv4 pool",
    );
    expect(await refusal("public_ipv4", "96.0.0.0/3")).toBe(
      "InvalidCidr: pool px: 96.0.0.0/3 takes in 100.64.0.0/10, shared address space for carrier-grade NAT " +
        "(RFC 6598): a public_ipv4 pool holds only public addresses; use a private_ipv4 pool",
    );
    expect(await refusal("public_ipv6", "fd00:1::/48")).toBe(
      "InvalidCidr: pool px: fd00:1::/48 is in fc00::/7, unique local address space (RFC 4193): " +
        "a public_ipv6 pool holds only public addresses; there is no private IPv6 pool type",
    );
    expect(await refusal("public_ipv6", "f000::/8")).toBe(
      "InvalidCidr: pool px: f000::/8 is outside 2000::/3, IPv6's global unicast space (RFC 4291): " +
        "a public_ipv6 pool holds only public addresses",
    );
    expect(await refusal("public_ipv6", "::/0")).toMatch(
      /^InvalidCidr: pool px: ::\/0 takes in ::\/8, reserved/,
    );
    expect(await refusal("private_ipv4", "127.0.0.0/24")).toBe(
      "InvalidCidr: pool px: 127.0.0.0/24 is in 127.0.0.0/8, loopback (RFC 1122), never a host's address: " +
        "no pool may hold it",
    );
    expect(await refusal("private_ipv4", "169.254.0.0/16")).toMatch(/link-local .* no pool may hold it$/);
    expect(await refusal("public_ipv6", "ff02::/16")).toMatch(/multicast .* no pool may hold it$/);
    expect((await store.listPools()).map((p) => p.name)).toEqual(["lab1-private"]);
    // Public space in a private pool, and documentation and benchmarking space in public ones
    // (labs and examples stand them in for real public space), are taken.
    for (const [type, cidr] of [
      ["private_ipv4", "203.0.113.0/24"],
      ["public_ipv4", "198.18.0.0/15"],
      ["public_ipv4", "192.0.2.0/24"],
      ["public_ipv6", "2001:db8::/48"],
    ] as const) {
      await store.addPool(
        { name: `p-${cidr.replace(/[^0-9a-f]/g, "-")}`, type, cidr, facility: "lab1", project: null },
        "t",
      );
    }
    expect(await store.listPools()).toHaveLength(5);
  });

  test("a pool in use cannot be removed; an empty one goes with its free blocks", async () => {
    const a = await store.allocate(req());
    const inUse = await errorOf(store.removePool("lab1-private", "t"));
    expect(inUse.code).toBe("PoolInUse");
    expect(inUse.message).toBe("pool lab1-private still has 1 reservation(s); release them first");
    // Refused whole: the pool still allocates from where it left off.
    expect((await store.allocate(req())).cidr).toBe("10.0.0.8/29");
    expect((await errorOf(store.removePool("nope", "t"))).code).toBe("PoolNotFound");
    for (const r of await store.listReservations()) await store.release(r.id, "t");
    expect(a.cidr).toBe("10.0.0.0/29");
    await store.removePool("lab1-private", "t");
    expect(await store.listPools()).toEqual([]);
    expect((await errorOf(store.allocate(req()))).code).toBe("PoolNotFound");
    // Nothing of the old pool is left to draw from: the same range comes back whole.
    await store.addPool(
      { name: "again", type: "private_ipv4", cidr: "10.0.0.0/24", facility: "lab1", project: null },
      "t",
    );
    expect((await store.poolUsage("again")).freeBlocks).toEqual([{ prefixLength: 24, count: 1 }]);
    expect((await store.allocate(req({ block: { prefixLength: 24 } }))).cidr).toBe("10.0.0.0/24");
  });

  test("allocation is aligned and best fit", async () => {
    const a = await store.allocate(req({ block: { prefixLength: 26 } }));
    expect(a.cidr).toBe("10.0.0.0/26");
    const b = await store.allocate(req({ block: { prefixLength: 29 } }));
    expect(b.cidr).toBe("10.0.0.64/29");
    // Free now: .72/29, .80/28, .96/27, .128/25. A /28 must come from the /28, not split the /25.
    const c = await store.allocate(req({ block: { prefixLength: 28 } }));
    expect(c.cidr).toBe("10.0.0.80/28");
    const usage = await store.poolUsage("lab1-private");
    expect(usage).toMatchObject({ total: "256", allocated: "88", free: "168", reservations: 3 });
  });

  test("exact requests: granted when free, AlreadyAllocated when any part is taken", async () => {
    const a = await store.allocate(req({ block: { cidr: "10.0.0.200/29" } }));
    expect(a.cidr).toBe("10.0.0.200/29");
    const clash = await errorOf(store.allocate(req({ block: { cidr: "10.0.0.192/28" } })));
    expect(clash.code).toBe("AlreadyAllocated");
    expect(clash.message).toBe(
      "10.0.0.192/28 in pool lab1-private (10.0.0.0/24) is already allocated, in whole or in part",
    );
    const outside = await errorOf(store.allocate(req({ block: { cidr: "10.9.0.0/29" } })));
    expect(outside.code).toBe("InvalidRequest");
    expect(outside.message).toMatch(/10.9.0.0\/29 is not inside any private_ipv4 pool in facility lab1/);
  });

  test("NoSpaceLeft names the pool and the request", async () => {
    await store.allocate(req({ block: { prefixLength: 25 } }));
    await store.allocate(req({ block: { prefixLength: 25 } }));
    const full = await errorOf(store.allocate(req({ block: { prefixLength: 32 } })));
    expect(full.code).toBe("NoSpaceLeft");
    expect(full.message).toBe(
      "no private_ipv4 /32 block is free in facility lab1 for project demo: pool(s) lab1-private 10.0.0.0/24 have no room at that size",
    );
  });

  test("a request larger than the pool and a missing pool are refused clearly", async () => {
    const big = await errorOf(store.allocate(req({ block: { prefixLength: 16 } })));
    expect(big.message).toMatch(
      /a \/16 block is larger than pool lab1-private \(10.0.0.0\/24\) can ever hold/,
    );
    const none = await errorOf(store.allocate(req({ facility: "lab9" })));
    expect(none.code).toBe("PoolNotFound");
  });

  test("a pool too small for the request is passed over; too large only when every pool is", async () => {
    await store.addPool(
      { name: "a-small", type: "private_ipv4", cidr: "10.1.0.0/26", facility: "lab1", project: null },
      "test",
    );
    await store.addPool(
      { name: "b-big", type: "private_ipv4", cidr: "10.2.0.0/16", facility: "lab1", project: null },
      "test",
    );
    const r = await store.allocate(req({ block: { prefixLength: 20 } }));
    expect([r.poolName, r.cidr]).toEqual(["b-big", "10.2.0.0/20"]);
    const huge = await errorOf(store.allocate(req({ block: { prefixLength: 12 } })));
    expect(huge.message).toMatch(/a \/12 block is larger than pool b-big \(10.2.0.0\/16\) can ever hold/);
  });

  test("exact requests for disjoint blocks at once never refuse each other, while splits and merges move their free blocks", async () => {
    const errors: string[] = [];
    // Each taking and giving back splits the pool down to its block and merges it up again, so
    // the free block holding another's target changes level under it all the time.
    const churn = async (cidr: string) => {
      for (let i = 0; i < 150; i++) {
        await store
          .allocate(req({ block: { cidr } }))
          .then((r) => store.release(r.id, "test"))
          .catch((e: Error) => errors.push(e.message));
      }
    };
    await Promise.all(["10.0.0.0/32", "10.0.0.64/32", "10.0.0.128/32", "10.0.0.255/32"].map(churn));
    expect(errors).toEqual([]);
    expect(await store.listFreeBlocks("lab1-private")).toEqual(["10.0.0.0/24"]);
  });

  test("allocations by size at once never say NoSpaceLeft while the pool has room", async () => {
    const errors: string[] = [];
    const churn = async () => {
      for (let i = 0; i < 150; i++) {
        await store
          .allocate(req({ block: { prefixLength: 32 } }))
          .then((r) => store.release(r.id, "test"))
          .catch((e: Error) => errors.push(e.message));
      }
    };
    await Promise.all([churn(), churn(), churn(), churn()]);
    expect(errors).toEqual([]);
    expect(await store.listFreeBlocks("lab1-private")).toEqual(["10.0.0.0/24"]);
  });

  test("two creates of one owner at once hold one reservation, never two", async () => {
    for (let i = 0; i < 25; i++) {
      const owner = `org/p/s/twice-${i}`;
      const both = await Promise.all([store.allocate(req({ owner })), store.allocate(req({ owner }))]);
      const held = await store.listReservations({ owner });
      expect(held).toHaveLength(1);
      expect(both.map((r) => r.cidr)).toEqual([held[0]!.cidr, held[0]!.cidr]);
    }
  });

  test("freeing merges buddies back into the whole pool", async () => {
    const ids = [];
    for (let i = 0; i < 16; i++) ids.push((await store.allocate(req({ block: { prefixLength: 28 } }))).id);
    expect((await store.poolUsage("lab1-private")).free).toBe("0");
    for (const id of ids.reverse()) expect(await store.release(id, "t")).toBe(true);
    expect(await store.release(ids[0]!, "t")).toBe(false);
    expect((await store.poolUsage("lab1-private")).freeBlocks).toEqual([{ prefixLength: 24, count: 1 }]);
  });

  test("the database itself refuses an overlapping reservation", async () => {
    await store.allocate(req());
    // Errors from the native driver come from another realm than jest's: compare messages.
    const refusal = await rawInsertOverlap(backend, ctx.location).then(
      () => "inserted",
      (e: unknown) => String((e as Error).message),
    );
    expect(refusal).toMatch(
      /overlaps an existing reservation|conflicting key value violates exclusion constraint/,
    );
  });

  test("a create after an interrupted run adopts the reservation its owner left", async () => {
    const first = await store.allocate(req({ owner: "org/proj/dev/web" }));
    const again = await store.allocate(req({ owner: "org/proj/dev/web", tags: ["x"] }));
    expect(again.cidr).toBe(first.cidr);
    expect(again.id).not.toBe(first.id);
    expect(again.tags).toEqual(["x"]);
    expect(await store.getReservation(first.id)).toBeUndefined();
    expect(await store.listReservations()).toHaveLength(1);
    // A different size is a different request: no adoption.
    const other = await store.allocate(req({ owner: "org/proj/dev/web", block: { prefixLength: 28 } }));
    expect(other.cidr).not.toBe(first.cidr);
  });

  test("tags and description update in place", async () => {
    const r = await store.allocate(req());
    const u = await store.updateReservation(r.id, { tags: ["a", "b"], description: "d" }, "t");
    expect(u).toMatchObject({ id: r.id, cidr: r.cidr, tags: ["a", "b"], description: "d" });
    const missing = await errorOf(store.updateReservation("nope", { tags: [], description: null }, "t"));
    expect(missing.code).toBe("ReservationNotFound");
    // An id in other letters is another id, on every backend.
    expect(await store.getReservation(r.id.toUpperCase())).toBeUndefined();

    // PostgreSQL's text cannot hold NUL: refused by name on every backend, not as a raw error.
    const nul = await errorOf(store.updateReservation(r.id, { tags: ["a\u0000b"], description: null }, "t"));
    expect([nul.code, nul.message]).toEqual(["InvalidRequest", "tags[0] contains a NUL character"]);
    const described = await errorOf(store.allocate(req({ description: "x\u0000" })));
    expect(described.message).toBe("description contains a NUL character");
  });

  test("assignments: hosts skip network, gateway and broadcast; subnets are aligned; in-use blocks stay", async () => {
    const r = await store.allocate(req({ block: { prefixLength: 28 } })); // 10.0.0.0/28
    const a1 = await store.assign(r.id, { prefixLength: 32 }, "server-a", "t");
    const a2 = await store.assign(r.id, { prefixLength: 32 }, "server-b", "t");
    expect([a1.cidr, a2.cidr]).toEqual(["10.0.0.2/32", "10.0.0.3/32"]);
    const sub = await store.assign(r.id, { prefixLength: 30 }, "server-c", "t");
    expect(sub.cidr).toBe("10.0.0.4/30");
    const gw = await errorOf(store.assign(r.id, { cidr: "10.0.0.1/32" }, "server-d", "t"));
    expect(gw.message).toBe("10.0.0.1 is the gateway of 10.0.0.0/28 (hosts are 10.0.0.2 to 10.0.0.14)");
    const clash = await errorOf(store.assign(r.id, { cidr: "10.0.0.4/32" }, "server-d", "t"));
    expect(clash.code).toBe("AlreadyAllocated");
    // A routed subnet never takes the block's own network, gateway or broadcast address.
    const edge = await errorOf(store.assign(r.id, { cidr: "10.0.0.12/30" }, "server-d", "t"));
    expect(edge.message).toMatch(/^10\.0\.0\.12\/30 takes the broadcast address of 10\.0\.0\.0\/28/);
    const next = await store.assign(r.id, { prefixLength: 30 }, "server-d", "t");
    expect(next.cidr).toBe("10.0.0.8/30");
    const none = await errorOf(store.assign(r.id, { prefixLength: 30 }, "server-d", "t"));
    expect(none.code).toBe("NoSpaceLeft");
    await store.unassign(next.id, "t");
    // Point-to-point (RFC 3021): the first address is the router's, the server gets the other.
    const p2p = await store.allocate(req({ block: { prefixLength: 31 } }));
    const host = await store.assign(p2p.id, { prefixLength: 32 }, "server-e", "t");
    expect(host.cidr).toBe(`${p2p.cidr.split("/")[0]!.replace(/\d+$/, (d) => String(Number(d) + 1))}/32`);
    const router = await errorOf(
      store.assign(p2p.id, { cidr: `${p2p.cidr.split("/")[0]}/32` }, "server-f", "t"),
    );
    expect(router.message).toMatch(/is the gateway of/);
    await store.unassign(host.id, "t");
    await store.release(p2p.id, "t");
    expect((await store.listAssignments({ server: "server-b" })).map((a) => a.address)).toEqual(["10.0.0.3"]);

    const inUse = await errorOf(store.release(r.id, "t"));
    expect(inUse.code).toBe("ReservationInUse");
    expect(inUse.message).toBe(
      `reservation ${r.id} (10.0.0.0/28) still has addresses assigned to server-a, server-b, server-c; unassign them first`,
    );
    for (const a of await store.listAssignments({ reservationId: r.id }))
      expect(await store.unassign(a.id, "t")).toBe(true);
    expect(await store.release(r.id, "t")).toBe(true);
  });

  test("a server's blocks come with one host address each; a rerun keeps them; a refusal keeps nothing", async () => {
    const ask = (i: number, prefixLength: number) =>
      req({ owner: `org/proj/dev/web#ip${i}`, block: { prefixLength } });
    const first = await store.allocateHosts([ask(0, 31), ask(1, 30)], "server-a", "t");
    expect(first.map((h) => h.reservation.cidr)).toEqual(["10.0.0.0/31", "10.0.0.4/30"]);
    // A /31 (RFC 3021): the gateway's peer; a /30: past network and gateway.
    expect(first.map((h) => h.assignment.address)).toEqual(["10.0.0.1", "10.0.0.6"]);
    expect(first.every((h) => h.assignment.server === "server-a")).toBe(true);

    // An interrupted create run again: the same blocks (adopted, new ids), the same addresses.
    const again = await store.allocateHosts([ask(0, 31), ask(1, 30)], "server-a", "t");
    expect(again.map((h) => h.assignment.address)).toEqual(["10.0.0.1", "10.0.0.6"]);
    expect(await store.listAssignments({ server: "server-a" })).toHaveLength(2);

    // The second request does not fit the pool.
    const refused = await errorOf(store.allocateHosts([ask(2, 31), ask(3, 23)], "server-b", "t"));
    expect(refused).toMatchObject({
      code: "InvalidRequest",
      message: expect.stringMatching(/\/23 block is larger than pool lab1-private/),
    });
    if (backend.name === "sqlite") {
      // One transaction: the first block went back with the refusal.
      expect(await store.listReservations({ owner: "org/proj/dev/web#ip2" })).toEqual([]);
    }
  });

  test("assignments run out with a clear error", async () => {
    const r = await store.allocate(req({ block: { prefixLength: 30 } })); // hosts: .2 only
    await store.assign(r.id, { prefixLength: 32 }, "s1", "t");
    const full = await errorOf(store.assign(r.id, { prefixLength: 32 }, "s2", "t"));
    expect(full).toMatchObject({
      code: "NoSpaceLeft",
      message: "reservation 10.0.0.0/30 has no free address left to assign",
    });
  });
});
