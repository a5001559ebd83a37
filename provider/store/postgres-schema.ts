// Versioned PostgreSQL migrations. Allocation and release are server-side functions, so each is
// one round trip and one transaction; the database refuses overlaps with exclusion constraints
// on `cidr` (for aligned blocks, overlap is containment, which `&&` tests exactly).
import type { Migration } from "./migrations";
import { ACCESS_SQL, allocateFunctions } from "./postgres-access";
import {
  AUDIT_STAGE_SQL,
  SESSION_REPORTS_SQL,
  sessionBootClientSql,
  sessionWrittenSql,
  VLAN_IDS_SQL,
  accessSql,
  facilityLayer3Sql,
  inventorySql,
  serversSql,
  vlansSql,
  type ColumnTypes,
} from "./shared-schema";

const POSTGRES_TYPES: ColumnTypes = {
  text: "text",
  int: "integer",
  time: "timestamptz",
  json: "jsonb",
  serial: "bigserial PRIMARY KEY",
};

/** Advisory lock (with a pool id) that allocations and releases hold shared and pool removal exclusively. */
export const POOL_HOLD = 7304;
/** Advisory lock an inventory apply holds alone, and a VLAN create shared (migration 15). */
export const INVENTORY_LOCK = 7302;
/** Advisory lock (with the owner key's hash) a create of one owner holds while it adopts or allocates. */
export const OWNER_HOLD = 7305;
/** Session-level advisory lock (with the name's hash) of Store.hold: a switch change. */
export const NAMED_HOLD = 7306;

export const POSTGRES_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "ipam",
    sql: `
      CREATE TABLE facilities (
        code text PRIMARY KEY,
        name text,
        created_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE pools (
        id serial PRIMARY KEY,
        name text NOT NULL UNIQUE,
        type text NOT NULL CHECK (type IN ('public_ipv4','private_ipv4','public_ipv6','global_ipv4')),
        family smallint NOT NULL CHECK (family IN (4, 6)),
        cidr cidr NOT NULL CHECK (family(cidr) = family),
        facility text REFERENCES facilities(code),
        project text,
        description text,
        created_at timestamptz NOT NULL DEFAULT now(),
        EXCLUDE USING gist (cidr inet_ops WITH &&)
      );

      -- Maximal free blocks of each pool (buddy system). The index order is the best-fit
      -- order: longest prefix not longer than asked, then lowest address.
      CREATE TABLE free_blocks (
        pool_id integer NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
        prefix_len smallint NOT NULL,
        network cidr NOT NULL
      );
      CREATE UNIQUE INDEX free_blocks_best_fit ON free_blocks (pool_id, prefix_len DESC, network);

      CREATE TABLE reservations (
        id uuid PRIMARY KEY,
        pool_id integer NOT NULL REFERENCES pools(id),
        project text NOT NULL,
        cidr cidr NOT NULL,
        tags jsonb NOT NULL DEFAULT '[]',
        description text,
        owner text,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        EXCLUDE USING gist (cidr inet_ops WITH &&)
      );
      CREATE INDEX reservations_project ON reservations (project);
      CREATE INDEX reservations_owner ON reservations (owner) WHERE owner IS NOT NULL;

      CREATE TABLE assignments (
        id uuid PRIMARY KEY,
        reservation_id uuid NOT NULL REFERENCES reservations(id) ON UPDATE CASCADE,
        cidr cidr NOT NULL,
        server text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        EXCLUDE USING gist (cidr inet_ops WITH &&)
      );
      CREATE INDEX assignments_reservation ON assignments (reservation_id, cidr);
      CREATE INDEX assignments_server ON assignments (server);

      CREATE TABLE events (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        actor text NOT NULL,
        action text NOT NULL,
        subject text NOT NULL,
        detail jsonb
      );

      CREATE VIEW reservation_rows AS
        SELECT r.id, p.name AS pool_name, p.type, p.facility, p.family, r.project, r.cidr,
               masklen(r.cidr) AS prefix_len, r.tags, r.description, r.owner, r.created_by, r.created_at, r.updated_at
        FROM reservations r JOIN pools p ON p.id = r.pool_id;

      -- The other half of a block's parent: the block's address with its last prefix bit flipped.
      -- Pure inet bit operations, so exact over all 128 bits of IPv6.
      CREATE FUNCTION bm_buddy(b cidr) RETURNS cidr LANGUAGE sql IMMUTABLE STRICT AS $$
        SELECT set_masklen((b | bit) & ~(b & bit), masklen(b))::cidr
        FROM (SELECT hostmask(set_masklen(z, masklen(b) - 1)) & ~hostmask(set_masklen(z, masklen(b))) AS bit
              FROM (SELECT CASE family(b) WHEN 4 THEN inet '0.0.0.0' ELSE inet '::' END AS z) zero) s
      $$;

      CREATE FUNCTION bm_candidate_pools(p_type text, p_facility text, p_project text) RETURNS jsonb
      LANGUAGE sql STABLE AS $$
        SELECT coalesce(jsonb_agg(jsonb_build_object('name', name, 'cidr', cidr::text) ORDER BY project IS NULL, name), '[]')
        FROM pools
        WHERE type = p_type AND facility IS NOT DISTINCT FROM p_facility AND (project IS NULL OR project = p_project)
      $$;

      -- Errors carry a code (BM0xx) and the facts as JSON in DETAIL; the client words them.
      -- A refusal that concerns the candidate pools is PoolNotFound when there are none.
      CREATE FUNCTION bm_refuse(p_code text, p_message text, p_type text, p_facility text, p_project text)
      RETURNS void LANGUAGE plpgsql AS $$
      DECLARE
        v_pools jsonb := bm_candidate_pools(p_type, p_facility, p_project);
      BEGIN
        IF jsonb_array_length(v_pools) = 0 THEN
          RAISE EXCEPTION USING ERRCODE = 'BM003', MESSAGE = 'PoolNotFound', DETAIL = '[]';
        END IF;
        RAISE EXCEPTION USING ERRCODE = p_code, MESSAGE = p_message, DETAIL = v_pools::text;
      END;
      $$;
      CREATE FUNCTION bm_allocate(
        p_id uuid, p_project text, p_type text, p_facility text, p_prefix integer, p_exact cidr,
        p_tags jsonb, p_description text, p_owner text, p_actor text
      ) RETURNS SETOF reservation_rows LANGUAGE plpgsql AS $$
      DECLARE
        v_pool pools;
        v_free free_blocks;
        v_found boolean := false;
        v_taken cidr;
        v_prior uuid;
        p integer;
        attempt integer;
      BEGIN
        -- Adopt what an interrupted run of the same owner reserved (see the sqlite store).
        IF p_owner IS NOT NULL THEN
          SELECT r.id INTO v_prior FROM reservations r JOIN pools pl ON pl.id = r.pool_id
           WHERE r.owner = p_owner AND r.project = p_project AND pl.type = p_type
             AND pl.facility IS NOT DISTINCT FROM p_facility AND (pl.project IS NULL OR pl.project = p_project)
             AND CASE WHEN p_exact IS NOT NULL THEN r.cidr = p_exact ELSE masklen(r.cidr) = p_prefix END
           LIMIT 1 FOR UPDATE OF r;
          IF FOUND THEN
            UPDATE reservations SET id = p_id, tags = p_tags, description = p_description, updated_at = now()
             WHERE id = v_prior;
            INSERT INTO events (actor, action, subject, detail)
            VALUES (p_actor, 'reservation.adopt', p_id::text, jsonb_build_object('previousId', v_prior, 'owner', p_owner));
            RETURN QUERY SELECT * FROM reservation_rows WHERE id = p_id;
            RETURN;
          END IF;
        END IF;

        IF p_exact IS NOT NULL THEN
          SELECT * INTO v_pool FROM pools
           WHERE type = p_type AND facility IS NOT DISTINCT FROM p_facility AND (project IS NULL OR project = p_project)
             AND cidr >>= p_exact
           ORDER BY project IS NULL, name LIMIT 1;
          IF NOT FOUND THEN
            PERFORM bm_refuse('BM004', 'NotInsideAnyPool', p_type, p_facility, p_project);
          END IF;
          -- Walk up from the asked block to the pool; a concurrent split can move the free block
          -- that holds it to a longer prefix after we looked there, so look again before refusing.
          FOR attempt IN 1..3 LOOP
            FOR p IN REVERSE masklen(p_exact) .. masklen(v_pool.cidr) LOOP
              SELECT * INTO v_free FROM free_blocks
               WHERE pool_id = v_pool.id AND prefix_len = p AND network = set_masklen(p_exact, p)
               FOR UPDATE;
              IF FOUND THEN v_found := true; EXIT; END IF;
            END LOOP;
            EXIT WHEN v_found;
          END LOOP;
          IF NOT v_found THEN
            RAISE EXCEPTION USING ERRCODE = 'BM002', MESSAGE = 'AlreadyAllocated',
              DETAIL = jsonb_build_object('name', v_pool.name, 'cidr', v_pool.cidr::text)::text;
          END IF;
          v_taken := p_exact;
        ELSE
          <<pools>>
          FOR v_pool IN SELECT * FROM pools
             WHERE type = p_type AND facility IS NOT DISTINCT FROM p_facility AND (project IS NULL OR project = p_project)
             ORDER BY project IS NULL, name
          LOOP
            IF p_prefix < masklen(v_pool.cidr) THEN
              RAISE EXCEPTION USING ERRCODE = 'BM005', MESSAGE = 'LargerThanPool',
                DETAIL = jsonb_build_object('name', v_pool.name, 'cidr', v_pool.cidr::text)::text;
            END IF;
            FOR attempt IN 1..3 LOOP
              -- Skip blocks other allocations hold; if all are held, wait for one instead of failing.
              SELECT * INTO v_free FROM free_blocks WHERE pool_id = v_pool.id AND prefix_len <= p_prefix
               ORDER BY prefix_len DESC, network LIMIT 1 FOR UPDATE SKIP LOCKED;
              IF NOT FOUND THEN
                SELECT * INTO v_free FROM free_blocks WHERE pool_id = v_pool.id AND prefix_len <= p_prefix
                 ORDER BY prefix_len DESC, network LIMIT 1 FOR UPDATE;
              END IF;
              IF FOUND THEN v_found := true; EXIT pools; END IF;
              EXIT WHEN NOT EXISTS (SELECT 1 FROM free_blocks WHERE pool_id = v_pool.id AND prefix_len <= p_prefix);
            END LOOP;
          END LOOP;
          IF NOT v_found THEN
            PERFORM bm_refuse('BM001', 'NoSpaceLeft', p_type, p_facility, p_project);
          END IF;
          v_taken := set_masklen(v_free.network, p_prefix);
        END IF;

        DELETE FROM free_blocks
         WHERE pool_id = v_free.pool_id AND prefix_len = v_free.prefix_len AND network = v_free.network;
        FOR p IN v_free.prefix_len + 1 .. masklen(v_taken) LOOP
          INSERT INTO free_blocks (pool_id, prefix_len, network) VALUES (v_pool.id, p, bm_buddy(set_masklen(v_taken, p)));
        END LOOP;
        INSERT INTO reservations (id, pool_id, project, cidr, tags, description, owner, created_by)
        VALUES (p_id, v_pool.id, p_project, v_taken, p_tags, p_description, p_owner, p_actor);
        -- The row is the record of its creation (created_by, created_at); no separate event.
        RETURN QUERY SELECT p_id, v_pool.name, v_pool.type, v_pool.facility, v_pool.family, p_project, v_taken,
          masklen(v_taken), p_tags, p_description, p_owner, p_actor, now(), now();
      END;
      $$;

      CREATE FUNCTION bm_release(p_id uuid, p_actor text) RETURNS text LANGUAGE plpgsql AS $$
      DECLARE
        v_res reservations;
        v_pool pools;
        v_block cidr;
        v_servers jsonb;
      BEGIN
        SELECT * INTO v_res FROM reservations WHERE id = p_id FOR UPDATE;
        IF NOT FOUND THEN RETURN NULL; END IF;
        SELECT jsonb_agg(DISTINCT server) INTO v_servers FROM assignments WHERE reservation_id = p_id;
        IF v_servers IS NOT NULL THEN
          RAISE EXCEPTION USING ERRCODE = 'BM009', MESSAGE = 'ReservationInUse',
            DETAIL = jsonb_build_object('cidr', v_res.cidr::text, 'servers', v_servers)::text;
        END IF;
        SELECT * INTO v_pool FROM pools WHERE id = v_res.pool_id;
        -- Two buddies freed at once must see each other to merge: one release per pool at a time.
        PERFORM pg_advisory_xact_lock(7301, v_pool.id);
        DELETE FROM reservations WHERE id = p_id;
        v_block := v_res.cidr;
        WHILE masklen(v_block) > masklen(v_pool.cidr) LOOP
          DELETE FROM free_blocks
           WHERE pool_id = v_pool.id AND prefix_len = masklen(v_block) AND network = bm_buddy(v_block);
          EXIT WHEN NOT FOUND;
          v_block := set_masklen(v_block, masklen(v_block) - 1);
        END LOOP;
        INSERT INTO free_blocks (pool_id, prefix_len, network) VALUES (v_pool.id, masklen(v_block), v_block);
        -- The row goes, so its creation record moves into the event.
        INSERT INTO events (actor, action, subject, detail)
        VALUES (p_actor, 'reservation.release', p_id::text,
                jsonb_build_object('cidr', v_res.cidr::text, 'owner', v_res.owner, 'createdBy', v_res.created_by,
                                   'createdAt', v_res.created_at));
        RETURN v_res.cidr::text;
      END;
      $$;
    `,
  },
  {
    version: 2,
    name: "spgist-exclusion-and-free-block-vacuum",
    // GiST's inet_ops made each reservation insert cost ~100 us (measured: 116 us with it,
    // 16 us without); SP-GiST's radix tree enforces the same && exclusion at ~20 us.
    sql: `
      ALTER TABLE pools DROP CONSTRAINT pools_cidr_excl;
      ALTER TABLE pools ADD CONSTRAINT pools_cidr_excl EXCLUDE USING spgist (cidr inet_ops WITH &&);
      ALTER TABLE reservations DROP CONSTRAINT reservations_cidr_excl;
      ALTER TABLE reservations ADD CONSTRAINT reservations_cidr_excl EXCLUDE USING spgist (cidr inet_ops WITH &&);
      ALTER TABLE assignments DROP CONSTRAINT assignments_cidr_excl;
      ALTER TABLE assignments ADD CONSTRAINT assignments_cidr_excl EXCLUDE USING spgist (cidr inet_ops WITH &&);
      -- Every allocation deletes and inserts free-block rows: a few live rows, many dead ones.
      -- Vacuum it at every autovacuum round instead of waiting for 20% of a tiny table.
      ALTER TABLE free_blocks SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
        autovacuum_vacuum_cost_delay = 0);
    `,
  },
  {
    version: 3,
    name: "inventory",
    sql: `${inventorySql(POSTGRES_TYPES)}`,
  },
  {
    version: 4,
    name: "servers",
    sql: `${serversSql(POSTGRES_TYPES)}`,
  },
  {
    version: 5,
    name: "ipam-pool-holds-instead-of-foreign-keys",
    // A foreign key to pools made every allocation lock the pool row FOR KEY SHARE: a WAL
    // record per transaction, and a MultiXact when clients allocate from one pool at once.
    // Dropping both measured +10-15% per allocation. What the keys guaranteed (no block or
    // reservation outlives its pool) now comes from an advisory lock per pool: allocations
    // and releases hold it shared, removing the pool holds it exclusively. It lives in the
    // lock table only: no WAL, no row lock.
    sql: `
      ALTER TABLE free_blocks DROP CONSTRAINT free_blocks_pool_id_fkey;
      ALTER TABLE reservations DROP CONSTRAINT reservations_pool_id_fkey;

      CREATE FUNCTION bm_hold_pool(p_pool integer) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        PERFORM pg_advisory_xact_lock_shared(${POOL_HOLD}, p_pool);
        RETURN true;
      END;
      $$;

      ALTER FUNCTION bm_allocate(uuid, text, text, text, integer, cidr, jsonb, text, text, text)
        RENAME TO bm_allocate_held;
      ALTER FUNCTION bm_release(uuid, text) RENAME TO bm_release_held;
      ${allocateFunctions({})}
    `,
  },
  {
    version: 6,
    name: "vlans",
    sql: `${vlansSql(POSTGRES_TYPES)}`,
  },
  {
    version: 7,
    name: "projects-members-audit",
    sql: `${accessSql(POSTGRES_TYPES)}`,
  },
  {
    version: 8,
    name: "row-level-security",
    sql: ACCESS_SQL,
  },
  {
    version: 9,
    name: "inlinable-buddy",
    // The first bm_buddy read its bit from a FROM clause, so PostgreSQL could not inline it:
    // every allocation that split a block parsed and planned the function body anew (a fifth
    // of the server's CPU per allocation, by perf). One expression inlines into the caller's
    // plan; the same bits, flipped with inet operators only, exact over 128 bits.
    sql: `
      CREATE OR REPLACE FUNCTION bm_buddy(b cidr) RETURNS cidr LANGUAGE sql IMMUTABLE STRICT AS $$
        SELECT set_masklen((b | (hostmask(set_masklen(b, masklen(b) - 1)) & ~hostmask(b)))
                           & ~(b & (hostmask(set_masklen(b, masklen(b) - 1)) & ~hostmask(b))), masklen(b))::cidr
      $$;
    `,
  },
  {
    version: 10,
    name: "member-machines-and-vlan-ids",
    // Machines: a member changed any available machine (the claim went machine first), so a
    // reader of any project could quarantine or take the whole pool. The claim now inserts the
    // server row first; a member changes only a machine one of its project's servers names,
    // and only to a state the server lifecycle uses (maintenance is the operators').
    // VLAN ids: the lowest free id is chosen from every project's, which members cannot read
    // in vlans; the view (run as its owner, so not filtered) shows facility and id only.
    sql: `
      DROP POLICY change ON machines;
      CREATE POLICY change ON machines FOR UPDATE
        USING (EXISTS (SELECT 1 FROM servers s
                        WHERE s.machine_id = machines.id AND bm_can(s.project, 'collaborator')))
        WITH CHECK (state IN ('provisioning', 'active', 'deprovisioning', 'available', 'quarantine')
          AND EXISTS (SELECT 1 FROM servers s
                       WHERE s.machine_id = machines.id AND bm_can(s.project, 'collaborator')));
      ${VLAN_IDS_SQL}
      GRANT SELECT ON vlan_ids TO baremetal_member;
    `,
  },
  {
    version: 11,
    name: "audit-stage",
    sql: AUDIT_STAGE_SQL,
  },
  {
    version: 12,
    name: "allocate-under-concurrency",
    // Found with several clients at once, none of which SQLite (one writer at a time) shows:
    // - an exact request looked at each prefix level in its own statement, so a split or merge
    //   between two of them hid the free block, and after three tries it said AlreadyAllocated
    //   with the block free; it is now one statement, tried again while a snapshot shows a free
    //   block that holds it, and refused only when one shows none;
    // - a size request likewise gave up after three tries and said NoSpaceLeft while its own
    //   check saw fitting blocks; it tries while any is there;
    // - two creates of one owner at once could both reserve: the owner is now a lock;
    // - a pool too small for the request stopped the search instead of being passed over, where
    //   SQLite passed it (LargerThanPool only when every pool is too small);
    // - pools were ordered by the database's collation; now byte order, as SQLite does.
    sql: `
      CREATE OR REPLACE FUNCTION bm_candidate_pools(p_type text, p_facility text, p_project text) RETURNS jsonb
      LANGUAGE sql STABLE AS $$
        SELECT coalesce(jsonb_agg(jsonb_build_object('name', name, 'cidr', cidr::text)
                                  ORDER BY project IS NULL, name COLLATE "C"), '[]')
        FROM pools
        WHERE type = p_type AND facility IS NOT DISTINCT FROM p_facility AND (project IS NULL OR project = p_project)
      $$;

      CREATE OR REPLACE FUNCTION bm_allocate_held(
        p_id uuid, p_project text, p_type text, p_facility text, p_prefix integer, p_exact cidr,
        p_tags jsonb, p_description text, p_owner text, p_actor text
      ) RETURNS SETOF reservation_rows LANGUAGE plpgsql AS $$
      DECLARE
        v_pool pools;
        v_free free_blocks;
        v_found boolean := false;
        v_fits boolean := false;
        v_taken cidr;
        v_prior uuid;
        v_largest pools;
        p integer;
        attempt integer;
      BEGIN
        IF p_owner IS NOT NULL THEN
          -- One create of an owner at a time: the second sees the first's reservation and adopts it.
          PERFORM pg_advisory_xact_lock(${OWNER_HOLD}, hashtext(p_owner));
          SELECT r.id INTO v_prior FROM reservations r JOIN pools pl ON pl.id = r.pool_id
           WHERE r.owner = p_owner AND r.project = p_project AND pl.type = p_type
             AND pl.facility IS NOT DISTINCT FROM p_facility AND (pl.project IS NULL OR pl.project = p_project)
             AND CASE WHEN p_exact IS NOT NULL THEN r.cidr = p_exact ELSE masklen(r.cidr) = p_prefix END
           ORDER BY r.created_at, r.id
           LIMIT 1 FOR UPDATE OF r;
          IF FOUND THEN
            UPDATE reservations SET id = p_id, tags = p_tags, description = p_description, updated_at = now()
             WHERE id = v_prior;
            INSERT INTO events (actor, action, subject, detail)
            VALUES (p_actor, 'reservation.adopt', p_id::text,
                    jsonb_build_object('previousId', v_prior, 'owner', p_owner,
                                       'cidr', (SELECT cidr::text FROM reservations WHERE id = p_id)));
            RETURN QUERY SELECT * FROM reservation_rows WHERE id = p_id;
            RETURN;
          END IF;
        END IF;

        IF p_exact IS NOT NULL THEN
          SELECT * INTO v_pool FROM pools
           WHERE type = p_type AND facility IS NOT DISTINCT FROM p_facility AND (project IS NULL OR project = p_project)
             AND cidr >>= p_exact
           ORDER BY project IS NULL, name COLLATE "C" LIMIT 1;
          IF NOT FOUND THEN
            PERFORM bm_refuse('BM004', 'NotInsideAnyPool', p_type, p_facility, p_project);
          END IF;
          -- The free block that holds the asked one, at whatever level it is now, in one
          -- statement. Locking it can lose a race (another transaction split or merged it); a
          -- fresh statement then looks again, for as long as one still sees such a block.
          FOR attempt IN 1..1000 LOOP
            SELECT fb.* INTO v_free
              FROM generate_series(masklen(p_exact), masklen(v_pool.cidr), -1) l
              JOIN free_blocks fb ON fb.pool_id = v_pool.id AND fb.prefix_len = l
                                 AND fb.network = set_masklen(p_exact, l)
             LIMIT 1 FOR UPDATE OF fb;
            IF FOUND THEN v_found := true; EXIT; END IF;
            EXIT WHEN NOT EXISTS (
              SELECT 1 FROM generate_series(masklen(p_exact), masklen(v_pool.cidr), -1) l
                JOIN free_blocks fb ON fb.pool_id = v_pool.id AND fb.prefix_len = l
                                   AND fb.network = set_masklen(p_exact, l));
          END LOOP;
          IF NOT v_found THEN
            RAISE EXCEPTION USING ERRCODE = 'BM002', MESSAGE = 'AlreadyAllocated',
              DETAIL = jsonb_build_object('name', v_pool.name, 'cidr', v_pool.cidr::text)::text;
          END IF;
          v_taken := p_exact;
        ELSE
          <<pools>>
          FOR v_pool IN SELECT * FROM pools
             WHERE type = p_type AND facility IS NOT DISTINCT FROM p_facility AND (project IS NULL OR project = p_project)
             ORDER BY project IS NULL, name COLLATE "C"
          LOOP
            -- Too small for the request: passed over, as SQLite does; refused below if all are.
            IF p_prefix < masklen(v_pool.cidr) THEN
              IF v_largest.id IS NULL OR masklen(v_pool.cidr) < masklen(v_largest.cidr) THEN v_largest := v_pool; END IF;
              CONTINUE;
            END IF;
            v_fits := true;
            FOR attempt IN 1..1000 LOOP
              -- Skip blocks other allocations hold; if all are held, wait for one instead of failing.
              SELECT * INTO v_free FROM free_blocks WHERE pool_id = v_pool.id AND prefix_len <= p_prefix
               ORDER BY prefix_len DESC, network LIMIT 1 FOR UPDATE SKIP LOCKED;
              IF NOT FOUND THEN
                SELECT * INTO v_free FROM free_blocks WHERE pool_id = v_pool.id AND prefix_len <= p_prefix
                 ORDER BY prefix_len DESC, network LIMIT 1 FOR UPDATE;
              END IF;
              IF FOUND THEN v_found := true; EXIT pools; END IF;
              EXIT WHEN NOT EXISTS (SELECT 1 FROM free_blocks WHERE pool_id = v_pool.id AND prefix_len <= p_prefix);
            END LOOP;
          END LOOP;
          IF NOT v_found AND NOT v_fits AND v_largest.id IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'BM005', MESSAGE = 'LargerThanPool',
              DETAIL = jsonb_build_object('name', v_largest.name, 'cidr', v_largest.cidr::text)::text;
          END IF;
          IF NOT v_found THEN
            PERFORM bm_refuse('BM001', 'NoSpaceLeft', p_type, p_facility, p_project);
          END IF;
          v_taken := set_masklen(v_free.network, p_prefix);
        END IF;

        DELETE FROM free_blocks
         WHERE pool_id = v_free.pool_id AND prefix_len = v_free.prefix_len AND network = v_free.network;
        FOR p IN v_free.prefix_len + 1 .. masklen(v_taken) LOOP
          INSERT INTO free_blocks (pool_id, prefix_len, network) VALUES (v_pool.id, p, bm_buddy(set_masklen(v_taken, p)));
        END LOOP;
        INSERT INTO reservations (id, pool_id, project, cidr, tags, description, owner, created_by)
        VALUES (p_id, v_pool.id, p_project, v_taken, p_tags, p_description, p_owner, p_actor);
        RETURN QUERY SELECT p_id, v_pool.name, v_pool.type, v_pool.facility, v_pool.family, p_project, v_taken,
          masklen(v_taken), p_tags, p_description, p_owner, p_actor, now(), now();
      END;
      $$;
    `,
  },
  {
    version: 13,
    name: "session-reports",
    sql: `
      ${SESSION_REPORTS_SQL}
      GRANT UPDATE (reports) ON provisioning TO baremetal_member;
    `,
  },
  {
    version: 14,
    name: "member-machine-holds",
    // Found by an audit with raw SQL as a member login:
    // - a server row could name any machine, and once one did, the member could move that
    //   machine anywhere the lifecycle goes: a quarantined machine (a failed wipe: another
    //   tenant's disks) back to available, one in maintenance into use, or, deleting the row
    //   after, a machine left provisioning with no server, which no command releases. A
    //   server row may now name only an available machine, and goes only once its machine is
    //   no longer held under its owner key; a machine in quarantine or maintenance is the
    //   operators'; a held machine is held under its server's owner key, a free one by none;
    // - a provisioning session could name another project's machine beside the member's own
    //   server, and the boot server (which serves a MAC the newest open session of its
    //   machine) then booted that machine into the member's script. A session must name its
    //   server's machine.
    sql: `
      DROP POLICY add ON servers;
      CREATE POLICY add ON servers FOR INSERT WITH CHECK (bm_can(project, 'collaborator')
        AND EXISTS (SELECT 1 FROM machines m WHERE m.id = machine_id AND m.state = 'available'));
      DROP POLICY remove ON servers;
      CREATE POLICY remove ON servers FOR DELETE USING (bm_can(project, 'collaborator')
        AND NOT EXISTS (SELECT 1 FROM machines m WHERE m.id = machine_id AND m.owner = servers.owner));

      DROP POLICY change ON machines;
      CREATE POLICY change ON machines FOR UPDATE
        USING (state NOT IN ('maintenance', 'quarantine')
          AND EXISTS (SELECT 1 FROM servers s
                       WHERE s.machine_id = machines.id AND bm_can(s.project, 'collaborator')
                         AND (machines.owner = s.owner OR (machines.owner IS NULL AND machines.state = 'available'))))
        WITH CHECK (EXISTS (SELECT 1 FROM servers s
                       WHERE s.machine_id = machines.id AND bm_can(s.project, 'collaborator')
                         AND ((machines.state IN ('available', 'quarantine') AND machines.owner IS NULL)
                           OR (machines.state IN ('provisioning', 'active', 'deprovisioning') AND machines.owner = s.owner))));

      DROP POLICY write ON provisioning;
      CREATE POLICY write ON provisioning FOR ALL
        USING (EXISTS (SELECT 1 FROM servers s WHERE s.id = server_id AND s.machine_id = provisioning.machine_id
                        AND bm_can(s.project, 'collaborator')))
        WITH CHECK (EXISTS (SELECT 1 FROM servers s WHERE s.id = server_id AND s.machine_id = provisioning.machine_id
                        AND bm_can(s.project, 'collaborator')));
    `,
  },
  {
    version: 15,
    name: "vlan-facility-hold",
    // A VLAN create read its facility's range and provisioning VLAN at READ COMMITTED while
    // an inventory apply changed them: the apply's check could not see the create's VLAN (not
    // yet committed), nor the create the apply's new range, and a project's VLAN became the
    // provisioning VLAN. A create now holds the inventory's lock shared (the apply holds it
    // alone, postgres.ts), so one waits for the other and then reads what it committed.
    sql: `
      CREATE FUNCTION bm_inventory_hold() RETURNS integer LANGUAGE sql VOLATILE AS $$
        SELECT 1 FROM (SELECT pg_advisory_xact_lock_shared(${INVENTORY_LOCK})) AS held
      $$;
    `,
  },
  {
    version: 16,
    name: "session-disk-written",
    sql: `
      ${sessionWrittenSql(POSTGRES_TYPES)}
      GRANT UPDATE (written_at) ON provisioning TO baremetal_member;
      -- A finished session's configs are dropped (servers-sql.ts, finishedStaged).
      GRANT UPDATE (staged) ON provisioning TO baremetal_member;
    `,
  },
  {
    version: 17,
    name: "rows-in-own-name",
    // A member could write rows in another user's name: bm_allocate and bm_release took the
    // actor as given (a reservation created_by anyone), and servers, VLANs and members could
    // be inserted with any created_by. The audit log and events already insisted on the
    // login; now every row a member writes says who wrote it. Operators write as they say.
    sql: `
${allocateFunctions({
  replace: true,
  definer: true,
  allocateGuard:
    "IF NOT bm_can(p_project, 'collaborator') THEN PERFORM bm_refuse_access(p_project, 'collaborator'); END IF;\n" +
    "        IF NOT bm_is_operator() THEN p_actor := session_user; END IF;",
  releaseGuard: `SELECT project INTO v_project FROM reservations WHERE id = p_id;
        IF NOT FOUND THEN RETURN NULL; END IF;
        IF NOT bm_can(v_project, 'collaborator') THEN PERFORM bm_refuse_access(v_project, 'collaborator'); END IF;
        IF NOT bm_is_operator() THEN p_actor := session_user; END IF;`,
})}
      DROP POLICY add ON servers;
      CREATE POLICY add ON servers FOR INSERT WITH CHECK (bm_can(project, 'collaborator')
        AND created_by = session_user
        AND EXISTS (SELECT 1 FROM machines m WHERE m.id = machine_id AND m.state = 'available'));
      DROP POLICY add ON vlans;
      CREATE POLICY add ON vlans FOR INSERT WITH CHECK (bm_can(project, 'collaborator') AND created_by = session_user);
      DROP POLICY add ON project_members;
      CREATE POLICY add ON project_members FOR INSERT
        WITH CHECK (bm_can(project, CASE WHEN role = 'owner' THEN 'owner' ELSE 'admin' END)
          AND created_by = session_user);
    `,
  },
  {
    version: 18,
    name: "events-in-own-projects",
    // A member could add events about any server, VLAN or project: another project's members
    // then saw them in that server's timeline. Events about servers and VLANs now need the
    // collaborator role in their project (the server or VLAN found past row security, so
    // another project's is not taken for a missing one); a missing one only for its own
    // deletion, whose event follows the delete. Events about a project need membership, or are
    // a member's record of leaving it. Other subjects (a reservation, an assignment) are shown
    // to operators only, and keep needing only the writer's own name.
    sql: `
      CREATE FUNCTION bm_event_project(p_subject text) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
      SET search_path = pg_catalog, public, pg_temp AS $$
        SELECT CASE
          WHEN p_subject LIKE 'server:%' THEN (SELECT project FROM servers WHERE id = substr(p_subject, 8))
          WHEN p_subject LIKE 'vlan:%' THEN (SELECT project FROM vlans WHERE id = substr(p_subject, 6))
        END
      $$;
      DROP POLICY add ON events;
      CREATE POLICY add ON events FOR INSERT WITH CHECK (actor = session_user AND CASE
        WHEN subject LIKE 'server:%' OR subject LIKE 'vlan:%' THEN CASE
          WHEN bm_event_project(subject) IS NULL THEN action IN ('server.finish', 'vlan.delete')
          ELSE bm_can(bm_event_project(subject), 'collaborator') END
        WHEN subject LIKE 'project:%' THEN bm_can(substr(subject, 9), 'read_only')
          OR (action = 'member.remove' AND detail->>'user' = session_user)
        ELSE true END);
    `,
  },
  {
    version: 19,
    name: "session-boot-client",
    sql: sessionBootClientSql(POSTGRES_TYPES),
  },
  {
    version: 20,
    name: "event-check-once",
    // Version 18's policy looked up an event's server or VLAN twice per row (a SQL function
    // that is SECURITY DEFINER is never inlined, so nothing shares the two calls). One
    // function now looks it up once. It runs as the caller, so bm_can still judges the login;
    // only bm_event_project, which must see past row security, runs as the owner.
    sql: `
      CREATE FUNCTION bm_event_allowed(p_subject text, p_action text) RETURNS boolean
      LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
      DECLARE
        v_project text := bm_event_project(p_subject);
      BEGIN
        IF v_project IS NULL THEN RETURN p_action IN ('server.finish', 'vlan.delete'); END IF;
        RETURN bm_can(v_project, 'collaborator');
      END
      $$;
      DROP POLICY add ON events;
      CREATE POLICY add ON events FOR INSERT WITH CHECK (actor = session_user AND CASE
        WHEN subject LIKE 'server:%' OR subject LIKE 'vlan:%' THEN bm_event_allowed(subject, action)
        WHEN subject LIKE 'project:%' THEN bm_can(substr(subject, 9), 'read_only')
          OR (action = 'member.remove' AND detail->>'user' = session_user)
        ELSE true END);
    `,
  },
  {
    version: 21,
    name: "search-path-pinned",
    // A session's own temporary schema is searched first for tables unless a path names it
    // (last). A login's temporary project_members or pg_roles then stood in for the real ones
    // inside the access checks: any member could make itself an owner or an operator. Every
    // function that reads a table gets a path with pg_catalog first (else an operator a member
    // made in public, where PostgreSQL before 15 lets anyone create, would stand in for =) and
    // pg_temp last; bm_buddy and bm_rank read none and stay inlinable. Members create nothing
    // in public either. The functions made before are written with it now, for later ones.
    sql: `
      DO $$
      DECLARE f regprocedure;
      BEGIN
        FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                  WHERE n.nspname = 'public' AND p.proname LIKE 'bm\\_%' AND p.prokind = 'f'
                    AND p.proname NOT IN ('bm_buddy', 'bm_rank')
        LOOP
          EXECUTE format('ALTER FUNCTION %s SET search_path = %s', f,
            CASE WHEN f::text LIKE 'bm_is_operator(%' THEN 'pg_catalog, pg_temp' ELSE 'pg_catalog, public, pg_temp' END);
        END LOOP;
      END
      $$;
      REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    `,
  },
  {
    version: 22,
    name: "log-times-are-the-databases",
    // Any member may write audit entries and events in its own name (a refused change is
    // logged too), and wrote the time as well: a raw INSERT could date an entry years back.
    // For a member the database's clock now says when; operators, who may change anything
    // (and import history), keep the time they give.
    sql: `
      CREATE FUNCTION bm_stamp_now() RETURNS trigger LANGUAGE plpgsql
      SET search_path = pg_catalog, public, pg_temp AS $$
      BEGIN
        IF NOT bm_is_operator() THEN NEW.at := now(); END IF;
        RETURN NEW;
      END
      $$;
      CREATE TRIGGER stamp BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION bm_stamp_now();
      CREATE TRIGGER stamp BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION bm_stamp_now();
    `,
  },
  {
    version: 23,
    name: "session-changes-notify",
    // Providers waiting for installs and wipes LISTEN on bm_sessions (Store.watchSessions) and
    // read their sessions when a session finishes or goes, wherever the boot server that took
    // the report runs; other reports wake no one. The notice says only that something changed:
    // any login may LISTEN on any channel, and a session's token is what guards its configs.
    // Sent at commit (one per transaction), so the reader sees the change.
    sql: `
      CREATE FUNCTION bm_sessions_changed() RETURNS trigger LANGUAGE plpgsql
      SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        PERFORM pg_notify('bm_sessions', '');
        RETURN NULL;
      END
      $$;
      CREATE TRIGGER notify_finished AFTER UPDATE OF state ON provisioning
        FOR EACH ROW WHEN (NEW.state IN ('done', 'failed')) EXECUTE FUNCTION bm_sessions_changed();
      CREATE TRIGGER notify_gone AFTER DELETE ON provisioning
        FOR EACH STATEMENT EXECUTE FUNCTION bm_sessions_changed();
    `,
  },
  {
    version: 24,
    name: "facility-layer3-vlan",
    sql: facilityLayer3Sql(POSTGRES_TYPES),
  },
  {
    version: 25,
    name: "session-written-notify",
    // A create whose server moves to a layer-3 VLAN of its own does so once the installer has
    // written the disk (lifecycle.ts), and waits for that as for the finish: a notice for it too.
    sql: `
      CREATE TRIGGER notify_written AFTER UPDATE OF written_at ON provisioning
        FOR EACH ROW WHEN (OLD.written_at IS NULL AND NEW.written_at IS NOT NULL)
        EXECUTE FUNCTION bm_sessions_changed();
    `,
  },
];
