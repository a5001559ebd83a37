// PostgreSQL enforces project membership itself, for every user login: this migration's
// policies and grants are what a client edited to skip the provider's checks runs into.
//   - Each user is a login role in the group baremetal_member (`baremetal store user add`).
//     The database owner and superusers are operators: they bypass all of it.
//   - bm_can(project, role) says whether the session's user (session_user, which definer
//     functions do not change) holds at least `role` in `project`.
//   - Row-level security shows and changes only the rows of projects the user belongs to,
//     with the role each change needs; the audit log only grows (no UPDATE or DELETE grant).
//   - Address blocks are taken and given back only through bm_allocate and bm_release,
//     definer functions that check the role first; members hold no privilege on free_blocks
//     beyond reading it, nor INSERT/DELETE on reservations, nor UPDATE of a block's address.

/** Error code bm_allocate and bm_release raise for a user without the role. */
export const ACCESS_DENIED = "BM011";

/** Readers see a table's rows of their projects; collaborators make the listed changes there. */
function projectPolicies(table: string, writes = ["add", "change", "remove"]): string {
  const may = "bm_can(project, 'collaborator')";
  const policies: Record<string, string> = {
    add: `FOR INSERT WITH CHECK (${may})`,
    change: `FOR UPDATE USING (${may}) WITH CHECK (${may})`,
    remove: `FOR DELETE USING (${may})`,
  };
  return [
    `ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;`,
    `CREATE POLICY see ON ${table} FOR SELECT USING (bm_can(project, 'read_only'));`,
    ...writes.map((w) => `CREATE POLICY ${w} ON ${table} ${policies[w]};`),
  ]
    .map((l) => `      ${l}`)
    .join("\n");
}

/**
 * bm_allocate and bm_release as callers see them: each holds the pools it touches (shared, in
 * id order, so two never wait on each other), then runs its unchecked half. Migration 5 made
 * them plain; migration 8 makes them definer functions that check the caller's role first.
 */
export function allocateFunctions(o: {
  replace?: boolean;
  definer?: boolean;
  allocateGuard?: string;
  releaseGuard?: string;
}): string {
  const create = `CREATE ${o.replace ? "OR REPLACE " : ""}FUNCTION`;
  const attrs = o.definer ? " SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp" : "";
  return `
      ${create} bm_allocate(
        p_id uuid, p_project text, p_type text, p_facility text, p_prefix integer, p_exact cidr,
        p_tags jsonb, p_description text, p_owner text, p_actor text
      ) RETURNS SETOF reservation_rows LANGUAGE plpgsql${attrs} AS $$
      BEGIN
        ${o.allocateGuard ?? ""}
        PERFORM bm_hold_pool(id) FROM pools
         WHERE type = p_type AND facility IS NOT DISTINCT FROM p_facility
           AND (project IS NULL OR project = p_project)
         ORDER BY id;
        RETURN QUERY SELECT * FROM bm_allocate_held(p_id, p_project, p_type, p_facility, p_prefix,
          p_exact, p_tags, p_description, p_owner, p_actor);
      END;
      $$;

      ${create} bm_release(p_id uuid, p_actor text) RETURNS text LANGUAGE plpgsql${attrs} AS $$
      DECLARE
        v_project text;
      BEGIN
        ${o.releaseGuard ?? ""}
        PERFORM bm_hold_pool(pool_id) FROM reservations WHERE id = p_id;
        RETURN bm_release_held(p_id, p_actor);
      END;
      $$;`;
}

export const ACCESS_SQL = `
      DO $$ BEGIN
        CREATE ROLE baremetal_member NOLOGIN;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; -- another database made it
      END $$;

      CREATE FUNCTION bm_is_operator() RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
      SET search_path = pg_catalog, pg_temp AS $$
        SELECT r.rolsuper OR pg_has_role(session_user, d.datdba, 'MEMBER')
        FROM pg_roles r, pg_database d WHERE r.rolname = session_user AND d.datname = current_database()
      $$;

      CREATE FUNCTION bm_rank(p_role text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$
        SELECT array_position(ARRAY['read_only','collaborator','admin','owner'], p_role)
      $$;

      CREATE FUNCTION bm_can(p_project text, p_role text) RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
      SET search_path = pg_catalog, public, pg_temp AS $$
        SELECT bm_is_operator() OR coalesce(
          (SELECT bm_rank(role) >= bm_rank(p_role) FROM project_members
            WHERE project = p_project AND user_email = session_user), false)
      $$;

      CREATE FUNCTION bm_refuse_access(p_project text, p_role text) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION USING ERRCODE = '${ACCESS_DENIED}', MESSAGE = 'AccessDenied',
          DETAIL = jsonb_build_object('user', session_user, 'project', p_project, 'role', p_role)::text;
      END;
      $$;

      -- Blocks: only through the functions, which check first.
${allocateFunctions({
  replace: true,
  definer: true,
  allocateGuard:
    "IF NOT bm_can(p_project, 'collaborator') THEN PERFORM bm_refuse_access(p_project, 'collaborator'); END IF;",
  releaseGuard: `SELECT project INTO v_project FROM reservations WHERE id = p_id;
        IF NOT FOUND THEN RETURN NULL; END IF;
        IF NOT bm_can(v_project, 'collaborator') THEN PERFORM bm_refuse_access(v_project, 'collaborator'); END IF;`,
})}

      -- The unchecked halves run only inside the checked ones.
      REVOKE EXECUTE ON FUNCTION bm_allocate_held(uuid, text, text, text, integer, cidr, jsonb, text, text, text) FROM PUBLIC;
      REVOKE EXECUTE ON FUNCTION bm_release_held(uuid, text) FROM PUBLIC;

      -- A project always keeps an owner, whoever changes its members and however.
      CREATE FUNCTION bm_keep_owner() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
      SET search_path = pg_catalog, public, pg_temp AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM projects WHERE name = OLD.project)
           AND NOT EXISTS (SELECT 1 FROM project_members WHERE project = OLD.project AND role = 'owner') THEN
          RAISE EXCEPTION USING ERRCODE = 'BM010', MESSAGE = 'LastOwner', DETAIL = OLD.project;
        END IF;
        RETURN NULL;
      END;
      $$;
      CREATE CONSTRAINT TRIGGER keep_owner AFTER UPDATE OR DELETE ON project_members
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bm_keep_owner();

      -- The view answers with the caller's rights, so its rows are filtered like the table's.
      ALTER VIEW reservation_rows SET (security_invoker = true);

      GRANT USAGE ON SCHEMA public TO baremetal_member;
      GRANT SELECT ON schema_migrations, facilities, pools, free_blocks, plans, switches, machines,
        machine_nics, reservation_rows TO baremetal_member;
      GRANT SELECT, UPDATE (tags, description, updated_at) ON reservations TO baremetal_member;
      GRANT SELECT, INSERT, DELETE ON assignments TO baremetal_member;
      GRANT SELECT, INSERT, DELETE, UPDATE (state, failed_step, hostname, spec, updated_at) ON servers TO baremetal_member;
      GRANT SELECT, INSERT, DELETE, UPDATE (state, message, updated_at) ON provisioning TO baremetal_member;
      GRANT UPDATE (state, state_reason, owner, updated_at) ON machines TO baremetal_member;
      GRANT SELECT, INSERT, DELETE, UPDATE (description, tags, updated_at) ON vlans TO baremetal_member;
      GRANT SELECT, INSERT, DELETE, UPDATE (server_id, machine_id, nic, mode) ON vlan_ports TO baremetal_member;
      GRANT SELECT, UPDATE (name) ON projects TO baremetal_member;
      GRANT SELECT, INSERT, DELETE, UPDATE (role, ssh_keys, updated_at) ON project_members TO baremetal_member;
      GRANT SELECT, INSERT ON events, audit TO baremetal_member;
      GRANT USAGE ON SEQUENCE events_id_seq, audit_id_seq TO baremetal_member;

${projectPolicies("reservations", ["change"])}

      ALTER TABLE assignments ENABLE ROW LEVEL SECURITY;
      CREATE POLICY see ON assignments FOR SELECT
        USING (EXISTS (SELECT 1 FROM reservations r WHERE r.id = reservation_id));
      -- Only an address inside the member's own block.
      CREATE POLICY add ON assignments FOR INSERT WITH CHECK (EXISTS (
        SELECT 1 FROM reservations r WHERE r.id = reservation_id
          AND bm_can(r.project, 'collaborator') AND assignments.cidr <<= r.cidr));
      CREATE POLICY remove ON assignments FOR DELETE USING (EXISTS (
        SELECT 1 FROM reservations r WHERE r.id = reservation_id AND bm_can(r.project, 'collaborator')));

${projectPolicies("servers")}

      ALTER TABLE provisioning ENABLE ROW LEVEL SECURITY;
      CREATE POLICY see ON provisioning FOR SELECT
        USING (EXISTS (SELECT 1 FROM servers s WHERE s.id = server_id));
      CREATE POLICY write ON provisioning FOR ALL
        USING (EXISTS (SELECT 1 FROM servers s WHERE s.id = server_id AND bm_can(s.project, 'collaborator')))
        WITH CHECK (EXISTS (SELECT 1 FROM servers s WHERE s.id = server_id AND bm_can(s.project, 'collaborator')));

      -- Machines are the site's: any member may claim an available one; only the project whose
      -- server holds a machine may change it.
      ALTER TABLE machines ENABLE ROW LEVEL SECURITY;
      CREATE POLICY see ON machines FOR SELECT USING (true);
      CREATE POLICY change ON machines FOR UPDATE
        USING (state = 'available' OR EXISTS (
          SELECT 1 FROM servers s WHERE s.machine_id = machines.id AND bm_can(s.project, 'collaborator')))
        WITH CHECK (true);

${projectPolicies("vlans")}

      ALTER TABLE vlan_ports ENABLE ROW LEVEL SECURITY;
      CREATE POLICY see ON vlan_ports FOR SELECT USING (EXISTS (SELECT 1 FROM vlans v WHERE v.id = vlan_id));
      CREATE POLICY write ON vlan_ports FOR ALL
        USING (EXISTS (SELECT 1 FROM vlans v WHERE v.id = vlan_id AND bm_can(v.project, 'collaborator')))
        WITH CHECK (EXISTS (SELECT 1 FROM vlans v WHERE v.id = vlan_id AND bm_can(v.project, 'collaborator')));

      ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
      CREATE POLICY see ON projects FOR SELECT USING (bm_can(name, 'read_only'));
      -- Member changes touch their project's row first (a lock); only those who may change members.
      CREATE POLICY touch ON projects FOR UPDATE USING (bm_can(name, 'admin')) WITH CHECK (bm_can(name, 'admin'));

      ALTER TABLE project_members ENABLE ROW LEVEL SECURITY;
      CREATE POLICY see ON project_members FOR SELECT USING (bm_can(project, 'read_only'));
      CREATE POLICY add ON project_members FOR INSERT
        WITH CHECK (bm_can(project, CASE WHEN role = 'owner' THEN 'owner' ELSE 'admin' END));
      CREATE POLICY change ON project_members FOR UPDATE
        USING (bm_can(project, CASE WHEN role = 'owner' THEN 'owner' ELSE 'admin' END))
        WITH CHECK (bm_can(project, CASE WHEN role = 'owner' THEN 'owner' ELSE 'admin' END));
      CREATE POLICY remove ON project_members FOR DELETE
        USING (bm_can(project, CASE WHEN role = 'owner' THEN 'owner' ELSE 'admin' END));

      ALTER TABLE audit ENABLE ROW LEVEL SECURITY;
      CREATE POLICY see ON audit FOR SELECT USING (project IS NOT NULL AND bm_can(project, 'read_only'));
      CREATE POLICY add ON audit FOR INSERT
        WITH CHECK (actor = session_user AND (project IS NULL OR bm_can(project, 'read_only')));

      ALTER TABLE events ENABLE ROW LEVEL SECURITY;
      CREATE POLICY add ON events FOR INSERT WITH CHECK (actor = session_user);
      CREATE POLICY see ON events FOR SELECT USING (
        (subject LIKE 'server:%' AND EXISTS (SELECT 1 FROM servers s WHERE 'server:' || s.id = subject))
        OR (subject LIKE 'vlan:%' AND EXISTS (SELECT 1 FROM vlans v WHERE 'vlan:' || v.id = subject))
        OR (subject LIKE 'project:%' AND bm_can(substr(subject, 9), 'read_only')));
`;
