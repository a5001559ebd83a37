export default async function globalTeardown(): Promise<void> {
  await globalThis.__baremetalPostgres?.stop();
}
