import { Command } from "commander";
import { clientRanges, startBootServer } from "../../provider/provisioning/boot-server";
import { STORE_HELP, withStore } from "../store-option";

export function bootServerCommand(): Command {
  return new Command("boot-server")
    .description("serve iPXE scripts and OS configs to netbooting machines, and take their reports")
    .option("--listen <host:port>", "where to listen", "0.0.0.0:8080")
    .option("--public-url <url>", "the URL machines reach this server at (baremetal:bootServerUrl)")
    .option(
      "--assets <dir>",
      "serve this directory (a local image mirror) under <public-url>/assets/; point baremetal:osMirror there",
    )
    .option(
      "--allow <cidr...>",
      'the provisioning network: install and wipe scripts and configs go only to clients in these ranges; elsewhere a machine gets only its alwaysPxe script or "boot from disk" (reports are taken from anywhere, with their token)',
    )
    .option("--store <location>", STORE_HELP)
    .action(
      async (o: {
        listen: string;
        publicUrl?: string;
        assets?: string;
        allow?: string[];
        store?: string;
      }) => {
        const m = /^(.+):(\d{1,5})$/.exec(o.listen);
        if (!m || Number(m[2]) > 65535)
          throw new Error(
            `--listen: expected host:port with a port 0-65535, e.g. 0.0.0.0:8080, not ${o.listen}`,
          );
        const host = m[1]!.replace(/^\[|\]$/g, "");
        // The entry script chains to the public URL: http://0.0.0.0:8080 reaches no machine.
        if (o.publicUrl === undefined && (host === "0.0.0.0" || host === "::")) {
          throw new Error(
            `--public-url: needed when listening on every address (${o.listen}): the URL machines reach this server at, e.g. http://10.0.0.2:8080`,
          );
        }
        if (o.publicUrl !== undefined) {
          let url: URL | undefined;
          try {
            url = new URL(o.publicUrl);
          } catch {
            url = undefined;
          }
          if (!url || (url.protocol !== "http:" && url.protocol !== "https:"))
            throw new Error(
              `--public-url: expected an http(s) URL machines reach, e.g. http://10.0.0.2:8080, not ${o.publicUrl}`,
            );
        }
        if (o.allow) clientRanges(o.allow, "--allow");
        await withStore(o.store, async (store) => {
          const server = await startBootServer(store, {
            host,
            port: Number(m[2]),
            publicUrl: o.publicUrl,
            assets: o.assets,
            allow: o.allow,
          });
          console.log(`boot server listening on ${o.listen}; machines reach it at ${server.url}`);
          if (!o.allow && !/^(127\.|::1$|localhost$)/.test(host)) {
            console.log(
              "boot server: boot scripts and configs (root password hashes, SSH keys, userData) go to any client; name the provisioning network with --allow <cidr>",
            );
          }
          await new Promise<void>((resolve) => {
            const stop = () => void server.close().then(resolve);
            process.once("SIGINT", stop);
            process.once("SIGTERM", stop);
          });
        });
      },
    );
}
