// Versioned SQLite migrations, applied in order, each in its own transaction. Never edit a
// released migration: add a new one.

import type { Migration } from "./migrations";
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

const SQLITE_TYPES: ColumnTypes = {
  text: "TEXT",
  int: "INTEGER",
  time: "TEXT",
  json: "TEXT",
  serial: "INTEGER PRIMARY KEY AUTOINCREMENT",
};

export const SQLITE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "ipam",
    sql: `
      CREATE TABLE facilities (
        code TEXT PRIMARY KEY,
        name TEXT,
        created_at TEXT NOT NULL
      );

      CREATE TABLE pools (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL CHECK (type IN ('public_ipv4','private_ipv4','public_ipv6','global_ipv4')),
        family INTEGER NOT NULL CHECK (family IN (4, 6)),
        cidr TEXT NOT NULL,
        network_hex TEXT NOT NULL,
        prefix_len INTEGER NOT NULL,
        facility TEXT REFERENCES facilities(code),
        project TEXT,
        description TEXT,
        created_at TEXT NOT NULL
      );

      -- Maximal free blocks of each pool (buddy system). Best fit reads this index backwards
      -- from the asked prefix length: one seek, whatever the number of reservations.
      CREATE TABLE free_blocks (
        pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
        prefix_len INTEGER NOT NULL,
        network_hex TEXT NOT NULL,
        PRIMARY KEY (pool_id, prefix_len DESC, network_hex)
      ) WITHOUT ROWID;

      -- Keyed by address within the pool: the overlap check below and listings walk this one
      -- tree. Kept lean on purpose (two B-trees, no audit row): each page written is part of
      -- the durable commit of every allocation. Who created it is recorded in the row itself.
      CREATE TABLE reservations (
        pool_id INTEGER NOT NULL REFERENCES pools(id),
        start_hex TEXT NOT NULL,
        id TEXT NOT NULL UNIQUE,
        project TEXT NOT NULL,
        cidr TEXT NOT NULL,
        end_hex TEXT NOT NULL,
        prefix_len INTEGER NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        description TEXT,
        owner TEXT,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (pool_id, start_hex)
      ) WITHOUT ROWID;
      CREATE INDEX reservations_owner ON reservations(owner) WHERE owner IS NOT NULL;

      -- SQLite has no exclusion constraint; this trigger is one. Reservations in a pool never
      -- overlap, so only the nearest one starting at or before the new block's end can collide.
      CREATE TRIGGER reservations_no_overlap BEFORE INSERT ON reservations
      WHEN EXISTS (
        SELECT 1 FROM (
          SELECT end_hex FROM reservations
          WHERE pool_id = NEW.pool_id AND start_hex <= NEW.end_hex
          ORDER BY start_hex DESC LIMIT 1
        ) WHERE end_hex >= NEW.start_hex
      )
      BEGIN
        SELECT RAISE(ABORT, 'reservation overlaps an existing reservation');
      END;

      -- Addresses or subnets of a reservation given to servers.
      CREATE TABLE assignments (
        id TEXT PRIMARY KEY,
        reservation_id TEXT NOT NULL REFERENCES reservations(id) ON UPDATE CASCADE,
        cidr TEXT NOT NULL,
        start_hex TEXT NOT NULL,
        end_hex TEXT NOT NULL,
        server TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (reservation_id, start_hex)
      );
      CREATE INDEX assignments_server ON assignments(server);

      CREATE TRIGGER assignments_no_overlap BEFORE INSERT ON assignments
      WHEN EXISTS (
        SELECT 1 FROM (
          SELECT end_hex FROM assignments
          WHERE reservation_id = NEW.reservation_id AND start_hex <= NEW.end_hex
          ORDER BY start_hex DESC LIMIT 1
        ) WHERE end_hex >= NEW.start_hex
      )
      BEGIN
        SELECT RAISE(ABORT, 'assignment overlaps an existing assignment');
      END;

      -- Who changed what, and when.
      CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT
      );
    `,
  },
  {
    version: 2,
    name: "inventory",
    sql: `${inventorySql(SQLITE_TYPES)}`,
  },
  {
    version: 3,
    name: "servers",
    sql: `${serversSql(SQLITE_TYPES)}`,
  },
  {
    version: 4,
    name: "vlans",
    sql: `${vlansSql(SQLITE_TYPES)}`,
  },
  {
    version: 5,
    name: "projects-members-audit",
    sql: `${accessSql(SQLITE_TYPES)}`,
  },
  {
    version: 6,
    name: "vlan-ids",
    sql: VLAN_IDS_SQL,
  },
  {
    version: 7,
    name: "audit-stage",
    sql: AUDIT_STAGE_SQL,
  },
  {
    version: 8,
    name: "session-reports",
    sql: SESSION_REPORTS_SQL,
  },
  {
    version: 9,
    name: "session-disk-written",
    sql: sessionWrittenSql(SQLITE_TYPES),
  },
  {
    version: 10,
    name: "session-boot-client",
    sql: sessionBootClientSql(SQLITE_TYPES),
  },
  {
    version: 11,
    name: "facility-layer3-vlan",
    sql: facilityLayer3Sql(SQLITE_TYPES),
  },
];
