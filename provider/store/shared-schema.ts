// The inventory and server tables, the same on both backends but for column types: one text,
// two migrations (sqlite-schema.ts, postgres-schema.ts), so the two can never drift apart.

export interface ColumnTypes {
  text: string;
  int: string;
  /** A point in time: ISO text on SQLite, timestamptz on PostgreSQL. */
  time: string;
  json: string;
  /** An id the database numbers itself, in insertion order. */
  serial: string;
}

export const inventorySql = (t: ColumnTypes) => `
      ALTER TABLE facilities ADD COLUMN vlan_from ${t.int} CHECK (vlan_from BETWEEN 1 AND 4094);
      ALTER TABLE facilities ADD COLUMN vlan_to ${t.int} CHECK (vlan_to BETWEEN 1 AND 4094);
      ALTER TABLE facilities ADD COLUMN provisioning_vlan ${t.int} CHECK (provisioning_vlan BETWEEN 1 AND 4094);
      CREATE TABLE plans (name ${t.text} PRIMARY KEY, spec ${t.json} NOT NULL, updated_at ${t.time} NOT NULL);
      CREATE TABLE switches (
        name ${t.text} PRIMARY KEY,
        facility ${t.text} NOT NULL REFERENCES facilities(code),
        spec ${t.json} NOT NULL,
        updated_at ${t.time} NOT NULL
      );
      CREATE TABLE machines (
        id ${t.text} PRIMARY KEY,
        facility ${t.text} NOT NULL REFERENCES facilities(code),
        plan ${t.text} NOT NULL REFERENCES plans(name),
        serial ${t.text} NOT NULL UNIQUE,
        spec ${t.json} NOT NULL,
        state ${t.text} NOT NULL CHECK (state IN ('available','provisioning','active','deprovisioning','quarantine','maintenance')),
        state_reason ${t.text},
        owner ${t.text},
        updated_at ${t.time} NOT NULL
      );
      -- Claims look for an available machine of a plan in a facility.
      CREATE INDEX machines_claim ON machines (facility, plan, state);
      -- One machine per Server resource, whatever a crashed run left behind.
      CREATE UNIQUE INDEX machines_owner ON machines (owner) WHERE owner IS NOT NULL;
      -- The database refuses two machines on one MAC or one switch port.
      CREATE TABLE machine_nics (
        mac ${t.text} PRIMARY KEY,
        machine_id ${t.text} NOT NULL REFERENCES machines(id),
        name ${t.text} NOT NULL,
        switch ${t.text} NOT NULL REFERENCES switches(name),
        port ${t.text} NOT NULL,
        UNIQUE (switch, port)
      );
      CREATE INDEX machine_nics_machine ON machine_nics (machine_id);
    `;

export const serversSql = (t: ColumnTypes) => `
      -- One row per Server resource, inserted with the claim of its machine, before any
      -- hardware is touched: owner and machine are unique, so a crashed run's successor
      -- finds its row and never takes a second machine.
      CREATE TABLE servers (
        id ${t.text} PRIMARY KEY,
        owner ${t.text} NOT NULL UNIQUE,
        project ${t.text} NOT NULL,
        facility ${t.text} NOT NULL REFERENCES facilities(code),
        plan ${t.text} NOT NULL,
        machine_id ${t.text} NOT NULL UNIQUE REFERENCES machines(id),
        hostname ${t.text} NOT NULL,
        state ${t.text} NOT NULL CHECK (state IN ('provisioning','active','reinstalling','deprovisioning','failed')),
        failed_step ${t.text},
        spec ${t.json} NOT NULL,
        created_by ${t.text} NOT NULL,
        created_at ${t.time} NOT NULL,
        updated_at ${t.time} NOT NULL
      );
      CREATE INDEX servers_project ON servers (project);
      -- What a machine boots and reports: one session per install or wipe, reached by token.
      CREATE TABLE provisioning (
        token ${t.text} PRIMARY KEY,
        server_id ${t.text} NOT NULL,
        machine_id ${t.text} NOT NULL REFERENCES machines(id),
        kind ${t.text} NOT NULL CHECK (kind IN ('install','wipe')),
        state ${t.text} NOT NULL CHECK (state IN ('staged','booting','installing','done','failed')),
        message ${t.text},
        staged ${t.json} NOT NULL,
        created_at ${t.time} NOT NULL,
        updated_at ${t.time} NOT NULL
      );
      CREATE INDEX provisioning_machine ON provisioning (machine_id, created_at);
      -- A server's timeline is its events.
      CREATE INDEX events_subject ON events (subject, id);
    `;

/**
 * The VLAN ids in use per facility, whoever's they are: a new VLAN takes the lowest free one,
 * and on PostgreSQL a member cannot see other projects' VLANs. Ids and facilities only.
 */
export const VLAN_IDS_SQL = `
      CREATE VIEW vlan_ids AS SELECT facility, vid FROM vlans;
    `;

// An audit entry is written before a change starts (and the change refused if it cannot be),
// and another when it ends: a change cut off midway is still in the log.
export const AUDIT_STAGE_SQL = `
      ALTER TABLE audit ADD COLUMN stage TEXT NOT NULL DEFAULT 'finished'
        CHECK (stage IN ('started', 'finished'));
    `;

// A session's report count, for the cap in servers-sql.ts (MAX_REPORTS).
export const SESSION_REPORTS_SQL = `
      ALTER TABLE provisioning ADD COLUMN reports INTEGER NOT NULL DEFAULT 0;
    `;

// When an install's session heard that the OS is on the disk (see boot-server.ts).
export const sessionWrittenSql = (t: ColumnTypes) => `
      ALTER TABLE provisioning ADD COLUMN written_at ${t.time};
    `;

// The address a session's boot script was first handed to; later fetches from elsewhere are
// refused (boot-server.ts).
export const sessionBootClientSql = (t: ColumnTypes) => `
      ALTER TABLE provisioning ADD COLUMN boot_client ${t.text};
    `;

// The facility's layer-3 network when it is not the provisioning VLAN (FacilitySpec.layer3Vlan).
export const facilityLayer3Sql = (t: ColumnTypes) => `
      ALTER TABLE facilities ADD COLUMN layer3_vlan ${t.int} CHECK (layer3_vlan BETWEEN 1 AND 4094);
    `;

export const vlansSql = (t: ColumnTypes) => `
      -- A project's VLAN in a facility. The database refuses a second VLAN with the same id in
      -- one facility. owner is the Pulumi resource's key: a rerun adopts the row its interrupted
      -- run left (not unique: a replacement holds the old and the new row for a moment).
      CREATE TABLE vlans (
        id ${t.text} PRIMARY KEY,
        owner ${t.text},
        project ${t.text} NOT NULL,
        facility ${t.text} NOT NULL REFERENCES facilities(code),
        vid ${t.int} NOT NULL CHECK (vid BETWEEN 1 AND 4094),
        description ${t.text},
        tags ${t.json} NOT NULL,
        created_by ${t.text} NOT NULL,
        created_at ${t.time} NOT NULL,
        updated_at ${t.time} NOT NULL,
        UNIQUE (facility, vid)
      );
      CREATE INDEX vlans_project ON vlans (project);
      CREATE INDEX vlans_owner ON vlans (owner);
      -- Which switch ports carry a VLAN for which server: a VLAN is not deleted while any row
      -- names it, and one port carries a VLAN once.
      CREATE TABLE vlan_ports (
        vlan_id ${t.text} NOT NULL REFERENCES vlans(id),
        server_id ${t.text} NOT NULL,
        machine_id ${t.text} NOT NULL,
        nic ${t.text} NOT NULL,
        switch ${t.text} NOT NULL,
        port ${t.text} NOT NULL,
        mode ${t.text} NOT NULL CHECK (mode IN ('access','native','tagged')),
        created_at ${t.time} NOT NULL,
        PRIMARY KEY (vlan_id, switch, port)
      );
      CREATE INDEX vlan_ports_server ON vlan_ports (server_id);
    `;

export const accessSql = (t: ColumnTypes) => `
      CREATE TABLE projects (
        name ${t.text} PRIMARY KEY,
        description ${t.text},
        created_by ${t.text} NOT NULL,
        created_at ${t.time} NOT NULL
      );
      -- Who is in a project and as what; owner is the ProjectMember resource's key, if one made it.
      CREATE TABLE project_members (
        project ${t.text} NOT NULL REFERENCES projects(name),
        user_email ${t.text} NOT NULL,
        role ${t.text} NOT NULL CHECK (role IN ('owner','admin','collaborator','read_only')),
        ssh_keys ${t.json} NOT NULL,
        owner ${t.text},
        created_by ${t.text} NOT NULL,
        created_at ${t.time} NOT NULL,
        updated_at ${t.time} NOT NULL,
        PRIMARY KEY (project, user_email)
      );
      CREATE INDEX project_members_user ON project_members (user_email);
      -- Every mutation of a resource: who, when, which resource (owner key), before and after,
      -- and the hardware commands it issued, secrets redacted. Only ever appended to.
      CREATE TABLE audit (
        id ${t.serial},
        at ${t.time} NOT NULL,
        actor ${t.text} NOT NULL,
        project ${t.text},
        owner ${t.text},
        resource ${t.text} NOT NULL,
        action ${t.text} NOT NULL,
        before ${t.json},
        after ${t.json},
        commands ${t.json} NOT NULL
      );
      CREATE INDEX audit_project_at ON audit (project, at);
    `;
