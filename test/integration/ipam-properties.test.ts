// Property-based: random sequences of size requests, exact requests and frees, on each backend,
// checked step by step against a deliberately simple model: one flag per address of a small
// pool. From the flags the model derives what the buddy system must hold: the free blocks are
// exactly the maximal free aligned blocks (so freed buddies always merged), best fit takes the
// smallest one that holds the request (lowest address first), and an exact request succeeds
// exactly when every address in it is free.
import fc from "fast-check";
import { IpamError } from "../../provider/ipam/errors";
import { formatCidr, parseCidr, type Block } from "../../provider/ipam/cidr";
import type { Store } from "../../provider/store/store";
import { backends, freshStore } from "../helpers/backends";

jest.setTimeout(300_000);

const POOL_BITS = 8; // 256 addresses: small enough to model address by address

class Model {
  used = new Array<boolean>(1 << POOL_BITS).fill(false);
  constructor(
    readonly pool: Block,
    readonly bits: number,
  ) {}

  private range(offset: number, prefix: number): number[] {
    const size = 1 << (this.bits - prefix);
    return [...Array(size).keys()].map((i) => offset + i);
  }
  private isFree(offset: number, prefix: number) {
    return this.range(offset, prefix).every((i) => !this.used[i]);
  }
  block(offset: number, prefix: number): string {
    return formatCidr({ family: this.pool.family, network: this.pool.network + BigInt(offset), prefix });
  }

  /** Maximal free aligned blocks, in address order. */
  freeBlocks(): { offset: number; prefix: number }[] {
    const out: { offset: number; prefix: number }[] = [];
    const walk = (offset: number, prefix: number) => {
      if (this.isFree(offset, prefix)) return void out.push({ offset, prefix });
      if (prefix === this.bits) return;
      const half = 1 << (this.bits - prefix - 1);
      walk(offset, prefix + 1);
      walk(offset + half, prefix + 1);
    };
    walk(0, this.pool.prefix);
    return out;
  }

  bestFit(prefix: number): string | undefined {
    const fits = this.freeBlocks().filter((b) => b.prefix <= prefix);
    if (!fits.length) return undefined;
    const best = fits.reduce((a, b) => (b.prefix > a.prefix ? b : a)); // first (lowest) of the longest prefix
    this.range(best.offset, prefix).forEach((i) => (this.used[i] = true));
    return this.block(best.offset, prefix);
  }

  exact(offset: number, prefix: number): boolean {
    if (!this.isFree(offset, prefix)) return false;
    this.range(offset, prefix).forEach((i) => (this.used[i] = true));
    return true;
  }

  free(cidr: string): void {
    const b = parseCidr(cidr);
    this.range(Number(b.network - this.pool.network), b.prefix).forEach((i) => (this.used[i] = false));
  }
}

type Action =
  | { kind: "size"; extra: number }
  | { kind: "exact"; extra: number; slot: number }
  | { kind: "free"; pick: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("size" as const), extra: fc.nat(POOL_BITS) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("exact" as const),
      extra: fc.nat(POOL_BITS),
      slot: fc.nat(255),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("free" as const), pick: fc.nat(1000) }) },
);

const POOLS = [
  { type: "private_ipv4" as const, base: (run: number) => `10.${run >> 8}.${run & 255}.0/24` },
  // Bits far above 64 set (global unicast space ends at 3fff::): the arithmetic must be exact
  // over all 128 bits.
  {
    type: "public_ipv6" as const,
    base: (run: number) => `3fff:ffff:ffff:ffff:ffff:ffff:${run.toString(16)}:ff00/120`,
  },
];

describe.each(backends)("$name agrees with the address-by-address model", (backend) => {
  let ctx: Awaited<ReturnType<typeof freshStore>>;
  let store: Store;
  let run = 0;

  beforeAll(async () => {
    ctx = await freshStore(backend);
    store = ctx.store;
  });
  afterAll(() => ctx.cleanup());

  test.each(POOLS)("$type", async ({ type, base }) => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 5, maxLength: 40 }), async (actions) => {
        run++;
        // A facility and pool per run, so runs do not see each other.
        const facility = `f${type.slice(-4)}-${run}`;
        await store.ensureFacility(facility, null, "prop");
        const pool = await store.addPool(
          { name: `p-${facility}`, type, cidr: base(run), facility, project: null },
          "prop",
        );
        const poolBlock = parseCidr(pool.cidr);
        const bits = poolBlock.family === 4 ? 32 : 128;
        const model = new Model(poolBlock, bits);
        const held: { id: string; cidr: string }[] = [];
        const req = {
          project: "prop",
          type,
          facility,
          tags: [],
          description: null,
          owner: null,
          actor: "prop",
        };

        for (const a of actions) {
          if (a.kind === "size") {
            const prefix = poolBlock.prefix + a.extra;
            const want = model.bestFit(prefix);
            try {
              const r = await store.allocate({ ...req, block: { prefixLength: prefix } });
              expect(r.cidr).toBe(want);
              held.push({ id: r.id, cidr: r.cidr });
            } catch (e) {
              if (!(e instanceof IpamError) || e.code !== "NoSpaceLeft") throw e;
              expect(want).toBeUndefined();
            }
          } else if (a.kind === "exact") {
            const prefix = poolBlock.prefix + a.extra;
            const size = 1 << (bits - prefix);
            const offset = Math.floor(a.slot / size) * size;
            const granted = model.exact(offset, prefix);
            const cidr = model.block(offset, prefix);
            try {
              const r = await store.allocate({ ...req, block: { cidr } });
              expect(granted).toBe(true);
              expect(r.cidr).toBe(cidr);
              held.push({ id: r.id, cidr: r.cidr });
            } catch (e) {
              if (!(e instanceof IpamError) || e.code !== "AlreadyAllocated") throw e;
              expect(granted).toBe(false);
            }
          } else if (held.length) {
            const [r] = held.splice(a.pick % held.length, 1);
            expect(await store.release(r!.id, "prop")).toBe(true);
            model.free(r!.cidr);
          }
          // Buddy merging and conservation, after every step.
          const expected = model.freeBlocks().map((b) => model.block(b.offset, b.prefix));
          expect(await store.listFreeBlocks(pool.name)).toEqual(expected);
        }
        const usage = await store.poolUsage(pool.name);
        expect(BigInt(usage.allocated) + BigInt(usage.free)).toBe(BigInt(usage.total));
        expect(usage.reservations).toBe(held.length);
        // Every block is aligned to its own size.
        for (const r of await store.listReservations({ pool: pool.name }))
          expect(formatCidr(parseCidr(r.cidr))).toBe(r.cidr);
      }),
      { numRuns: backend.name === "postgres" ? 25 : 60 },
    );
  });
});
