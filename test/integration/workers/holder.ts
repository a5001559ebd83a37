// One OS process that takes a named hold on a store and keeps it until it is killed (the hold
// test kills it, as a crash would). Prints "held" once it has it.
import { openStore } from "../../../provider/store/open";

async function main(): Promise<void> {
  const [location, name] = process.argv.slice(2);
  const store = await openStore(location!);
  // Ends only with the process: a timer keeps the event loop alive meanwhile.
  await store.hold(name!, 30_000, () => {
    process.stdout.write("held\n");
    return new Promise<never>(() => setInterval(() => undefined, 60_000));
  });
}

// The test reads a failure from the exit status and stderr.
main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
