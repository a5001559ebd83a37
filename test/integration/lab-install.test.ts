// Each operating system installed on the built-in lab through the provider's own create and the
// real boot server: what the machine ran as its installer, what it installed, and the timeline.
// For Flatcar and Fedora CoreOS the installer applies one Ignition config and writes another,
// the installed system's, which alone holds the user's config and the phone-home.
import { ServerInputs } from "../../provider/servers/inputs";
import { createServer, deleteServer } from "../../provider/servers/lifecycle";
import { serverTimeline } from "../../provider/store/servers-sql";
import { labSiteForFile } from "../helpers/lab-site";

jest.setTimeout(120_000);

const lab = labSiteForFile("lab-install", { machines: 1, installTimeMs: 100 });

const USER_IGNITION = JSON.stringify({
  ignition: { version: "3.4.0" },
  storage: { files: [{ path: "/etc/motd", contents: { source: "data:,hi%0A" } }] },
});

test.each([
  ["flatcar_stable", USER_IGNITION],
  ["fedora_coreos_stable", USER_IGNITION],
  ["ubuntu_24_04", "#cloud-config\nruncmd: [[touch, /tmp/hi]]\n"],
] as const)(
  "%s: installs through the boot server; the installed system holds the user's config",
  async (os, userData) => {
    const inputs = ServerInputs.parse({
      project: "demo",
      facility: "lab",
      plan: "lab.small",
      hostname: "web",
      operatingSystem: os,
      userData,
      provisionTimeoutSeconds: 30,
    });
    const owner = `org/p/s/${os}`;
    const p = await createServer(lab.ctx(), inputs, owner);
    try {
      expect(p.server.state).toBe("active");
      const timeline = await lab.site.store.transact(() => serverTimeline(p.server.id), "read");
      const fetched = timeline.filter((t) => t.action === "config.fetched").map((t) => t.detail);
      const installed = lab.site.lab.machine(p.machine.id).sim.installedWith!;
      if (os === "ubuntu_24_04") {
        expect(fetched).toEqual([{ message: "cloud-init/user-data" }]);
        // autoinstall drives the installer; the user's cloud-config rides inside, for the installed system.
        expect(installed).toMatch(/^#cloud-config\nautoinstall:/);
        expect(installed).toContain("touch");
      } else {
        // The installer's config first, then the one it installs.
        expect(fetched).toEqual([{ message: "installer-ignition.json" }, { message: "ignition.json" }]);
        const doc = JSON.parse(installed) as { ignition: { config?: { merge: { source: string }[] } } };
        const merged = doc.ignition.config!.merge[0]!.source;
        expect(Buffer.from(merged.replace(/^data:;base64,/, ""), "base64").toString()).toBe(USER_IGNITION);
        expect(installed).toContain("/phone-home/");
      }
      expect(timeline.filter((t) => t.action === "phone-home")).toHaveLength(1);
    } finally {
      await deleteServer(lab.ctx(), p.server, inputs, owner);
    }
  },
);
