// One PostgreSQL server for the whole integration run; each test makes its own database.
import { startPostgres, type PostgresServer } from "../lab/postgres";

declare global {
  var __baremetalPostgres: PostgresServer | undefined;
}

export default async function globalSetup(): Promise<void> {
  const pg = await startPostgres();
  globalThis.__baremetalPostgres = pg;
  // Test workers start after this and inherit the environment.
  process.env.BAREMETAL_TEST_POSTGRES_URL = pg.url;
}
