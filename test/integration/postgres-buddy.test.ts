// bm_buddy, the server-side half of the buddy allocator on PostgreSQL: it must agree with the
// TypeScript arithmetic (SQLite's) on every block of both families, and it must stay one
// expression the planner inlines. A body it cannot inline is parsed and planned again on every
// allocation that splits a block, which cost a fifth of the server's CPU per allocation.
import fc from "fast-check";
import { Client } from "pg";
import { buddyOf, familyBits, formatCidr, parseCidr, type Block } from "../../provider/ipam/cidr";
import { freshStore, postgresBackend } from "../helpers/backends";

jest.setTimeout(60_000);

let client: Client;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const fresh = await freshStore(postgresBackend); // applies the migrations
  cleanup = fresh.cleanup;
  client = new Client({ connectionString: fresh.location });
  await client.connect();
});

afterAll(async () => {
  await client?.end();
  await cleanup?.();
});

const block: fc.Arbitrary<Block> = fc.constantFrom<4 | 6>(4, 6).chain((family) =>
  fc
    .tuple(
      fc.integer({ min: 1, max: familyBits(family) }),
      fc.bigInt({ min: 0n, max: (1n << BigInt(familyBits(family))) - 1n }),
    )
    .map(([prefix, bits]) => {
      const hostBits = BigInt(familyBits(family) - prefix);
      return { family, prefix, network: (bits >> hostBits) << hostBits };
    }),
);

test("bm_buddy agrees with the TypeScript buddy on both families, down to /1 and up to /32 and /128", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(block, { minLength: 1, maxLength: 50 }), async (blocks) => {
      const { rows } = await client.query<{ buddy: string }>(
        "SELECT bm_buddy(b::cidr)::text AS buddy FROM unnest($1::text[]) WITH ORDINALITY u(b, i) ORDER BY i",
        [blocks.map(formatCidr)],
      );
      // PostgreSQL spells some IPv6 addresses its own way (::128.0.0.0 for ::8000:0); the store
      // reads every address through parseCidr, and so does this comparison.
      expect(rows.map((r) => formatCidr(parseCidr(r.buddy)))).toEqual(
        blocks.map((b) => formatCidr(buddyOf(b))),
      );
    }),
    { numRuns: 40 },
  );
});

test("bm_buddy is inlined into the statements that call it", async () => {
  const { rows } = await client.query<{ "QUERY PLAN": string }>(
    "EXPLAIN VERBOSE SELECT bm_buddy(set_masklen(network, 24)::cidr) FROM free_blocks",
  );
  const plan = rows.map((r) => r["QUERY PLAN"]).join("\n");
  expect(plan).toMatch(/hostmask/);
  expect(plan).not.toMatch(/bm_buddy/);
});
