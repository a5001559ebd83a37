// What the built-in lab's simulated machines read from a boot: the kernel arguments that name
// configs, and the installed system's config an installer's Ignition config fetches. The
// machines follow the provider's real renderers, so these are checked against them.
import { installedIgnitionUrl, parseKernelArgs } from "../../provider/lab/ipxe";
import { renderInstallerIgnition } from "../../provider/provisioning/render";
import type { ProvisionSpec } from "../../provider/provisioning/spec";
import { bootServerUrls } from "../../provider/provisioning/urls";

const urls = bootServerUrls("http://10.0.0.1:8080");
const TOKEN = "tok_4fJ9-kQ2xZ";

const spec = (operatingSystem: ProvisionSpec["operatingSystem"]): ProvisionSpec => ({
  hostname: "a",
  operatingSystem,
  sshKeys: [],
  interfaces: [{ name: "eth0", mac: "52:54:00:aa:00:01", addresses: [] }],
  dns: [],
  rootPasswordHash: "$6$Nf1JwzQp$" + "x".repeat(86),
  token: TOKEN,
  urls,
  images: { flatcar: "http://m/f", fedoraCoreos: "http://m/c", ubuntu: "http://m/u", wipe: "http://m/w" },
});

test("kernel arguments: the config the live system applies and the one it installs with", () => {
  expect(
    parseKernelArgs([
      "coreos.inst.install_dev=/dev/sda",
      `coreos.inst.ignition_url=${urls.ignition(TOKEN)}`,
      `ignition.config.url=${urls.installerIgnition(TOKEN)}`,
      `baremetal.events=${urls.events(TOKEN)}`,
    ]),
  ).toEqual({
    wipe: false,
    ignitionUrl: urls.installerIgnition(TOKEN),
    installIgnitionUrl: urls.ignition(TOKEN),
    eventsUrl: urls.events(TOKEN),
  });
});

test("Flatcar's installer config names the installed system's config in its install script", () => {
  expect(installedIgnitionUrl(renderInstallerIgnition(spec("flatcar_stable")))).toBe(urls.ignition(TOKEN));
  // Fedora CoreOS's names it on the command line instead; a config without one, or no config,
  // names none.
  expect(installedIgnitionUrl(renderInstallerIgnition(spec("fedora_coreos_stable")))).toBeUndefined();
  expect(installedIgnitionUrl('{"ignition":{"version":"3.4.0"}}')).toBeUndefined();
  expect(installedIgnitionUrl("<html>")).toBeUndefined();
});
