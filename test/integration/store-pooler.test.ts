// The PostgreSQL store behind a real PgBouncer (Debian's): as PgBouncer is installed, it
// refuses the settings the store's connections send when they open, and the error says what
// to change; in session mode with those settings ignored, the store works as it does against
// PostgreSQL itself, holds and notices included (each of its connections is one server session).
import { Client } from "pg";
import { HoldTimeout } from "../../provider/store/hold";
import { openStore } from "../../provider/store/open";
import type { Store } from "../../provider/store/store";
import { postgresBackend, testPostgresUrl } from "../helpers/backends";
import { failure } from "../helpers/failure";
import { allocateRequest } from "../helpers/requests";
import { startPgBouncer, type PgBouncer } from "../lab/pgbouncer";

const admin = testPostgresUrl;
const database = (location: string) => new URL(location).pathname.slice(1);

describe("the PostgreSQL store behind PgBouncer", () => {
  let fresh: Awaited<ReturnType<typeof postgresBackend.fresh>>;

  beforeEach(async () => {
    fresh = await postgresBackend.fresh();
  });
  afterEach(() => fresh.cleanup());

  test("as installed, PgBouncer refuses the store's startup settings: the error names what to set", async () => {
    const bouncer = await startPgBouncer(admin());
    try {
      const location = bouncer.urlFor(database(fresh.location));
      const e = await failure(openStore(location), Error);
      expect(e.message).toContain("refused the connection's startup parameter options");
      expect(e.message).toContain("`ignore_startup_parameters = options` and `pool_mode = session`");
      // The location as the error shows it carries no password.
      expect(e.message).not.toContain(new URL(admin()).password);
      expect(String((e.cause as Error).message)).toContain("unsupported startup parameter");
    } finally {
      await bouncer.stop();
    }
  });

  describe("in session mode, the startup settings ignored", () => {
    let bouncer: PgBouncer | undefined;
    let store: Store;
    let other: Store;
    const opened: Store[] = [];

    beforeEach(async () => {
      bouncer = await startPgBouncer(admin(), ["pool_mode = session", "ignore_startup_parameters = options"]);
      const location = bouncer.urlFor(database(fresh.location));
      opened.push((store = await openStore(location)));
      opened.push((other = await openStore(location)));
    });
    afterEach(async () => {
      // The pooler stops even when a store failed to open or to close.
      await Promise.allSettled(opened.splice(0).map((s) => s.close()));
      await bouncer?.stop();
      bouncer = undefined;
    });

    test("allocates, and a hold keeps another process out until it is given back", async () => {
      await store.ensureFacility("lab1", null, "test");
      await store.addPool(
        { name: "lab1-private", type: "private_ipv4", cidr: "10.0.0.0/24", facility: "lab1", project: null },
        "test",
      );
      const r = await other.allocate(allocateRequest());
      expect(r.cidr).toBe("10.0.0.0/29");

      const inside = await store.hold("switch tor1", 1000, async () => {
        await failure(
          other.hold("switch tor1", 200, async () => "in"),
          HoldTimeout,
        );
        return "held";
      });
      expect(inside).toBe("held");
      expect(await other.hold("switch tor1", 1000, async () => "free")).toBe("free");
    });

    test("a session watch hears the store's notices through the pooler", async () => {
      let heard = 0;
      const stop = await store.watchSessions({ change: () => heard++, lost: () => undefined });
      expect(stop).toBeDefined();
      // Sent straight to PostgreSQL, as the boot server's commit sends it (migration 23).
      const direct = new Client({ connectionString: fresh.location });
      await direct.connect();
      try {
        await direct.query("NOTIFY bm_sessions");
        for (let i = 0; i < 300 && heard === 0; i++) await new Promise((r) => setTimeout(r, 10));
        expect(heard).toBeGreaterThan(0);
      } finally {
        await direct.end();
        await stop!();
      }
    });
  });
});
