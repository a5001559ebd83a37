#!/usr/bin/env node
// The `baremetal` command.
import { persistCompileCacheAtExit } from "../provider/compile-cache";
import { Command } from "commander";
import { auditCommand } from "./commands/audit";
import { bootServerCommand } from "./commands/boot-server";
import { demoCommand } from "./commands/demo";
import { facilityCommand } from "./commands/facility";
import { inventoryCommand, machineCommand } from "./commands/inventory";
import { ipamCommand } from "./commands/ipam";
import { projectCommand } from "./commands/project";
import { serverCommand } from "./commands/server";
import { storeCommand } from "./commands/store";
import { errorCode } from "./error-code";

const program = new Command("baremetal")
  .description("pulumi-baremetal: run your own racks as code")
  .showHelpAfterError()
  .addCommand(storeCommand())
  .addCommand(facilityCommand())
  .addCommand(ipamCommand())
  .addCommand(inventoryCommand())
  .addCommand(machineCommand())
  .addCommand(serverCommand())
  .addCommand(projectCommand())
  .addCommand(auditCommand())
  .addCommand(bootServerCommand())
  .addCommand(demoCommand());

persistCompileCacheAtExit(`cli.${process.argv[2] ?? ""}`);
program.parseAsync(process.argv).catch((e: unknown) => {
  const err = e as Error & { code?: string };
  const code = errorCode(err);
  console.error(`baremetal: ${code ? `${code}: ` : ""}${err.message}`);
  process.exit(1);
});
