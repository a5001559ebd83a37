// The boot config renderers: the exact iPXE lines a (simulated) machine follows, what each OS
// config says about this machine, and the refusals that keep spec values from becoming
// commands. test/integration/provisioning-validate.test.ts runs the vendors' validators on them.
import { parse as parseYaml } from "yaml";
import {
  CUSTOM_DATA_PATH,
  IGNITION_SPEC_VERSION,
  RenderError,
  USER_SCRIPT_PATH,
  renderBoot,
  renderCloudInit,
  renderIgnition,
  renderInstallerIgnition,
  renderIpxe,
  renderWipeIpxe,
} from "../../provider/provisioning/render";
import type { OperatingSystem, ProvisionSpec } from "../../provider/provisioning/spec";
import { PHONE_HOME, bootServerUrls } from "../../provider/provisioning/urls";

const BOOT = "http://10.0.0.1:8080";
const TOKEN = "tok_4fJ9-kQ2xZ";
const HASH = "$6$Nf1JwzQp$" + "x".repeat(86);
const KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";
const KEY_B = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= bob";
const IMAGES = {
  flatcar: `${BOOT}/images/flatcar/amd64-usr/current`,
  fedoraCoreos: `${BOOT}/images/fedora-coreos/stable`,
  ubuntu: `${BOOT}/images/ubuntu`,
  wipe: `${BOOT}/images/wipe`,
};

function spec(os: OperatingSystem, over: Partial<ProvisionSpec> = {}): ProvisionSpec {
  return {
    hostname: "db-1.example.net",
    operatingSystem: os,
    sshKeys: [KEY_A, KEY_B],
    interfaces: [
      {
        name: "eth0",
        mac: "52:54:00:AA:00:01",
        addresses: [
          { cidr: "198.51.100.10/31", family: 4, gateway: "198.51.100.11", public: true },
          { cidr: "2001:db8:0:0::10/127", family: 6, gateway: "2001:db8::11", public: true },
        ],
      },
      {
        name: "eth1",
        mac: "52:54:00:aa:00:02",
        addresses: [{ cidr: "10.20.0.5/24", family: 4, public: false }],
      },
    ],
    dns: ["9.9.9.9", "2620:fe::fe"],
    rootPasswordHash: HASH,
    token: TOKEN,
    urls: bootServerUrls(BOOT),
    images: IMAGES,
    ...over,
  };
}

const urls = bootServerUrls(BOOT);
const EVENTS = urls.events(TOKEN);
const IGN = urls.ignition(TOKEN);
const INSTALLER_IGN = urls.installerIgnition(TOKEN);
const PHONE = urls.phoneHome(TOKEN);

const refusal = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return e instanceof RenderError ? e.message : `not a RenderError: ${String(e)}`;
  }
  return "no error";
};

interface IgnitionDoc {
  ignition: { version: string; config?: { merge: { source: string }[] } };
  passwd: { users: { name: string; sshAuthorizedKeys?: string[]; passwordHash?: string }[] };
  storage: { files: { path: string; mode: number; overwrite: boolean; contents: { source: string } }[] };
  systemd: {
    units: { name: string; enabled?: boolean; contents?: string; dropins?: { contents: string }[] }[];
  };
}

function ignitionOf(
  s: ProvisionSpec,
  render: (s: ProvisionSpec) => string = renderIgnition,
): {
  doc: IgnitionDoc;
  files: Map<string, { mode: number; text: string }>;
} {
  const doc = JSON.parse(render(s)) as IgnitionDoc;
  const files = new Map(
    doc.storage.files.map((f) => {
      expect(f.contents.source.startsWith("data:,")).toBe(true);
      return [f.path, { mode: f.mode, text: decodeURIComponent(f.contents.source.slice("data:,".length)) }];
    }),
  );
  return { doc, files };
}

const installerOf = (s: ProvisionSpec) => ignitionOf(s, renderInstallerIgnition);

const unit = (doc: IgnitionDoc, name: string) => {
  const u = doc.systemd.units.find((x) => x.name === name);
  if (!u) throw new Error(`no unit ${name}`);
  return u;
};

describe("iPXE scripts", () => {
  test("Flatcar: PXE kernel with Ignition, installer disk and events; its initrd; boot", () => {
    expect(renderBoot(spec("flatcar_stable")).ipxe).toBe(
      [
        "#!ipxe",
        `kernel ${IMAGES.flatcar}/flatcar_production_pxe.vmlinuz initrd=flatcar_production_pxe_image.cpio.gz ` +
          `flatcar.first_boot=1 ignition.config.url=${INSTALLER_IGN} baremetal.install_dev=/dev/sda baremetal.events=${EVENTS}`,
        `initrd ${IMAGES.flatcar}/flatcar_production_pxe_image.cpio.gz`,
        "boot",
        "",
      ].join("\n"),
    );
  });

  test("Fedora CoreOS: live kernel on the installer's Ignition config, installing the installed system's", () => {
    const fc = IMAGES.fedoraCoreos;
    expect(renderBoot(spec("fedora_coreos_stable", { installDisk: "/dev/nvme0n1" })).ipxe).toBe(
      [
        "#!ipxe",
        `kernel ${fc}/fedora-coreos-live-kernel.x86_64 initrd=fedora-coreos-live-initramfs.x86_64.img ` +
          `coreos.live.rootfs_url=${fc}/fedora-coreos-live-rootfs.x86_64.img coreos.inst.install_dev=/dev/nvme0n1 ` +
          `coreos.inst.image_url=${fc}/fedora-coreos-metal.x86_64.raw.xz coreos.inst.ignition_url=${IGN} ` +
          `ignition.firstboot ignition.platform.id=metal ignition.config.url=${INSTALLER_IGN} baremetal.events=${EVENTS}`,
        `initrd ${fc}/fedora-coreos-live-initramfs.x86_64.img`,
        "boot",
        "",
      ].join("\n"),
    );
  });

  test('Ubuntu: netboot kernel, ISO, autoinstall from the NoCloud seed (";" needs no escaping in iPXE)', () => {
    const u = IMAGES.ubuntu;
    expect(renderBoot(spec("ubuntu_24_04")).ipxe).toBe(
      [
        "#!ipxe",
        `kernel ${u}/24.04/netboot/amd64/linux initrd=initrd ip=dhcp ` +
          `url=${u}/24.04/ubuntu-24.04-live-server-amd64.iso cloud-config-url=/dev/null autoinstall ` +
          `ds=nocloud-net;s=${BOOT}/config/${TOKEN}/cloud-init/ baremetal.events=${EVENTS} ---`,
        `initrd ${u}/24.04/netboot/amd64/initrd`,
        "boot",
        "",
      ].join("\n"),
    );
    const jammy = renderBoot(spec("ubuntu_22_04")).ipxe;
    expect(jammy).toContain(`kernel ${u}/22.04/netboot/amd64/linux `);
    expect(jammy).toContain(`url=${u}/22.04/ubuntu-22.04-live-server-amd64.iso `);
    expect(jammy).toContain(`\ninitrd ${u}/22.04/netboot/amd64/initrd\n`);
  });

  test("every install script has the events URL, and the machine's MAC nowhere", () => {
    for (const os of ["flatcar_stable", "fedora_coreos_stable", "ubuntu_22_04", "ubuntu_24_04"] as const) {
      const ipxe = renderBoot(spec(os)).ipxe;
      expect(ipxe.split("\n")[1]).toMatch(new RegExp(` baremetal\\.events=${escape(EVENTS)}( |$)`));
      expect(ipxe).not.toMatch(PHONE_HOME);
    }
  });

  test("wipe: the wipe image with its mode and the events URL", () => {
    expect(renderWipeIpxe(TOKEN, urls, IMAGES)).toBe(
      [
        "#!ipxe",
        `kernel ${IMAGES.wipe}/vmlinuz baremetal.mode=wipe baremetal.events=${EVENTS} initrd=initrd`,
        `initrd ${IMAGES.wipe}/initrd`,
        "boot",
        "",
      ].join("\n"),
    );
  });

  test("custom_ipxe: an inline script is served untouched; a URL is chained", () => {
    const inline = "#!ipxe\ndhcp\nchain http://example.com/menu.ipxe || shell";
    // handoff: the session is done once the machine has its script (nothing of ours calls home).
    expect(renderBoot(spec("custom_ipxe", { ipxeScriptUrl: inline }))).toEqual({
      ipxe: inline,
      handoff: true,
    });
    expect(
      renderBoot(spec("custom_ipxe", { ipxeScriptUrl: "https://example.com/boot.ipxe?host=a&b=1" })),
    ).toEqual({
      ipxe: "#!ipxe\nchain --autofree https://example.com/boot.ipxe?host=a&b=1\n",
      handoff: true,
    });
    expect(refusal(() => renderBoot(spec("custom_ipxe")))).toMatch(/custom_ipxe needs ipxeScriptUrl/);
  });

  test("the script points at a config only if one is staged", () => {
    expect(refusal(() => renderIpxe(spec("flatcar_stable"), {}))).toMatch(/none is staged/);
    expect(refusal(() => renderIpxe(spec("ubuntu_24_04"), {}))).toMatch(/no seed is staged/);
  });
});

describe("Ignition", () => {
  test(`spec ${IGNITION_SPEC_VERSION}: core's keys, root's hash, the host name`, () => {
    for (const os of ["flatcar_stable", "fedora_coreos_stable"] as const) {
      const { doc, files } = ignitionOf(spec(os));
      expect(doc.ignition).toEqual({ version: "3.4.0" });
      expect(doc.passwd.users).toEqual([
        { name: "core", sshAuthorizedKeys: [KEY_A, KEY_B] },
        { name: "root", passwordHash: HASH },
      ]);
      expect(files.get("/etc/hostname")).toEqual({ mode: 0o644, text: "db-1.example.net\n" });
    }
  });

  test("a private block's pool is routed through its own gateway; the default route stays public", () => {
    const both = (os: OperatingSystem) =>
      spec(os, {
        interfaces: [
          {
            name: "eth0",
            mac: "52:54:00:aa:00:01",
            addresses: [
              { cidr: "198.51.100.10/31", family: 4, gateway: "198.51.100.11", public: true },
              {
                cidr: "10.20.0.6/31",
                family: 4,
                gateway: "10.20.0.7",
                public: false,
                routes: ["10.20.0.0/16"],
              },
            ],
          },
        ],
      });
    const networkd = ignitionOf(both("flatcar_stable")).files.get(
      "/etc/systemd/network/10-baremetal-eth0.network",
    )!.text;
    expect(networkd).toContain("Gateway=198.51.100.11\n");
    expect(networkd).toContain("[Route]\nDestination=10.20.0.0/16\nGateway=10.20.0.7\n");
    const nm = ignitionOf(both("fedora_coreos_stable")).files.get(
      "/etc/NetworkManager/system-connections/baremetal-eth0.nmconnection",
    )!.text;
    expect(nm).toContain("gateway=198.51.100.11\nroute1=10.20.0.0/16,10.20.0.7\n");
    const netplan = parseYaml(renderCloudInit(both("ubuntu_24_04")).networkConfig) as {
      network: { ethernets: Record<string, { routes: unknown }> };
    };
    expect(netplan.network.ethernets.eth0!.routes).toEqual([
      { to: "0.0.0.0/0", via: "198.51.100.11" },
      { to: "10.20.0.0/16", via: "10.20.0.7" },
    ]);
    expect(
      refusal(() =>
        renderBoot(
          spec("flatcar_stable", {
            interfaces: [
              {
                ...both("flatcar_stable").interfaces[0]!,
                addresses: [
                  {
                    cidr: "10.20.0.6/31",
                    family: 4,
                    gateway: "10.20.0.7",
                    public: false,
                    routes: ["2001:db8::/32"],
                  },
                ],
              },
            ],
          }),
        ),
      ),
    ).toMatch(/route "2001:db8::\/32" is not an IPv4 network/);
  });

  test("an IPv6-only server keeps IPv4 DHCP on its first NIC: the boot server and phone-home are on IPv4", () => {
    const v6only = (os: OperatingSystem) =>
      spec(os, {
        interfaces: [
          {
            name: "eth0",
            mac: "52:54:00:AA:00:01",
            addresses: [{ cidr: "2001:db8::10/127", family: 6, gateway: "2001:db8::11", public: true }],
          },
          { name: "eth1", mac: "52:54:00:aa:00:02", addresses: [] },
        ],
      });
    const flatcar = ignitionOf(v6only("flatcar_stable")).files;
    const eth0 = flatcar.get("/etc/systemd/network/10-baremetal-eth0.network")?.text;
    expect(eth0).toContain("DHCP=ipv4\n");
    expect(eth0).toContain("Address=2001:db8::10/127\n");
    const eth1 = flatcar.get("/etc/systemd/network/10-baremetal-eth1.network")?.text;
    expect(eth1).toContain("DHCP=no\n");
    // Nothing to configure there: network-online does not wait for it.
    expect(eth1).toContain("\n[Link]\nRequiredForOnline=no\n");
    expect(eth0).not.toContain("RequiredForOnline");
    const fcos = ignitionOf(v6only("fedora_coreos_stable")).files;
    const keyfile = fcos.get("/etc/NetworkManager/system-connections/baremetal-eth0.nmconnection")?.text;
    expect(keyfile).toContain("[ipv4]\nmethod=auto\n");
    expect(keyfile).toContain("[ipv6]\nmethod=manual\naddress1=2001:db8::10/127\n");
    const ubuntu = parseYaml(renderCloudInit(v6only("ubuntu_24_04")).networkConfig) as {
      network: { ethernets: Record<string, { dhcp4: boolean; addresses?: string[] }> };
    };
    expect(ubuntu.network.ethernets.eth0).toMatchObject({ dhcp4: true, addresses: ["2001:db8::10/127"] });
    expect(ubuntu.network.ethernets.eth1).toMatchObject({ dhcp4: false, optional: true });
    expect(ubuntu.network.ethernets.eth0).not.toHaveProperty("optional");
  });

  test("a server with no addresses at all (layer2, ipAddresses []) takes IPv4 DHCP, to phone home", () => {
    const bare = (os: OperatingSystem) =>
      spec(os, { interfaces: spec(os).interfaces.map((i) => ({ ...i, addresses: [] })) });
    const flatcar = ignitionOf(bare("flatcar_stable")).files;
    expect(flatcar.get("/etc/systemd/network/10-baremetal-eth0.network")?.text).toContain("DHCP=ipv4\n");
    const fcos = ignitionOf(bare("fedora_coreos_stable")).files;
    expect(fcos.get("/etc/NetworkManager/system-connections/baremetal-eth1.nmconnection")?.text).toContain(
      "[ipv4]\nmethod=auto\n",
    );
    const ubuntu = parseYaml(renderCloudInit(bare("ubuntu_24_04")).networkConfig) as {
      network: { ethernets: Record<string, { dhcp4: boolean }> };
    };
    expect(Object.values(ubuntu.network.ethernets).map((e) => e.dhcp4)).toEqual([true, true]);
    // With an address anywhere, none: static only, as before.
    expect(
      ignitionOf(spec("flatcar_stable")).files.get("/etc/systemd/network/10-baremetal-eth0.network")?.text,
    ).toContain("DHCP=no\n");
  });

  test("Flatcar: networkd .link names and .network addresses per MAC, one default route per family", () => {
    const { files } = ignitionOf(spec("flatcar_stable"));
    expect(files.get("/etc/systemd/network/10-baremetal-eth0.link")?.text).toBe(
      "[Match]\nPermanentMACAddress=52:54:00:aa:00:01\n\n[Link]\nName=eth0\n",
    );
    expect(files.get("/etc/systemd/network/10-baremetal-eth0.network")?.text).toBe(
      [
        "[Match]",
        "PermanentMACAddress=52:54:00:aa:00:01",
        "",
        "[Network]",
        "DHCP=no",
        "IPv6AcceptRA=no",
        "Address=198.51.100.10/31",
        "Address=2001:db8::10/127",
        "Gateway=198.51.100.11",
        "Gateway=2001:db8::11",
        "DNS=9.9.9.9",
        "DNS=2620:fe::fe",
        "",
      ].join("\n"),
    );
    expect(files.get("/etc/systemd/network/10-baremetal-eth1.network")?.text).toBe(
      [
        "[Match]",
        "PermanentMACAddress=52:54:00:aa:00:02",
        "",
        "[Network]",
        "DHCP=no",
        "IPv6AcceptRA=no",
        "Address=10.20.0.5/24",
        "DNS=9.9.9.9",
        "DNS=2620:fe::fe",
        "",
      ].join("\n"),
    );
    expect([...files.keys()].some((p) => p.includes("NetworkManager"))).toBe(false);
  });

  test("Fedora CoreOS: NetworkManager keyfiles (root-only) per MAC, plus the .link names", () => {
    const { files } = ignitionOf(spec("fedora_coreos_stable"));
    expect(files.get("/etc/NetworkManager/system-connections/baremetal-eth0.nmconnection")).toEqual({
      mode: 0o600,
      text: [
        "[connection]",
        "id=baremetal-eth0",
        "type=ethernet",
        "autoconnect=true",
        "",
        "[ethernet]",
        "mac-address=52:54:00:AA:00:01",
        "",
        "[ipv4]",
        "method=manual",
        "address1=198.51.100.10/31",
        "gateway=198.51.100.11",
        "dns=9.9.9.9;",
        "",
        "[ipv6]",
        "method=manual",
        "address1=2001:db8::10/127",
        "gateway=2001:db8::11",
        "dns=2620:fe::fe;",
        "",
      ].join("\n"),
    });
    const eth1 = files.get("/etc/NetworkManager/system-connections/baremetal-eth1.nmconnection")?.text;
    expect(eth1).toContain(
      "[ipv4]\nmethod=manual\naddress1=10.20.0.5/24\ndns=9.9.9.9;\n\n[ipv6]\nmethod=disabled\n",
    );
    expect(files.has("/etc/systemd/network/10-baremetal-eth1.link")).toBe(true);
    expect([...files.keys()].some((p) => p.endsWith(".network"))).toBe(false);
  });

  test("the phone-home unit: after network-online, installed system only, once, bounded retries", () => {
    for (const os of ["flatcar_stable", "fedora_coreos_stable"] as const) {
      const text = renderIgnition(spec(os));
      expect(PHONE_HOME.exec(text)?.[0]).toBe(PHONE);
      const u = unit(JSON.parse(text) as IgnitionDoc, "baremetal-phone-home.service");
      expect(u.enabled).toBe(true);
      const lines = u.contents!.split("\n");
      expect(lines).toEqual(
        expect.arrayContaining([
          "After=network-online.target",
          "Wants=network-online.target",
          "ConditionKernelCommandLine=!baremetal.install_dev",
          "ConditionKernelCommandLine=!coreos.inst.install_dev",
          "ConditionPathExists=!/var/lib/baremetal/phoned-home",
          "WantedBy=multi-user.target",
        ]),
      );
      const exec = lines.find((l) => l.startsWith("ExecStart="));
      expect(exec).toBe(
        "ExecStart=/usr/bin/curl -fsS --retry 10 --retry-delay 10 --retry-all-errors --connect-timeout 10 " +
          `--max-time 30 --data-urlencode 'instance_id=${TOKEN}' --data-urlencode 'hostname=db-1.example.net' '${PHONE}'`,
      );
    }
  });

  test("Flatcar installs itself onto the disk from the PXE boot and reports to the events URL", () => {
    const { doc, files } = installerOf(
      spec("flatcar_stable", { installDisk: "/dev/disk/by-id/wwn-0x5000c500a1b2" }),
    );
    const installer = files.get("/opt/baremetal/install-flatcar")!;
    expect(installer.mode).toBe(0o700);
    expect(installer.text).toContain(`-o /tmp/baremetal-ignition.json '${IGN}'`);
    expect(installer.text).toContain(
      `flatcar-install -d '/dev/disk/by-id/wwn-0x5000c500a1b2' -b '${BOOT}/images/flatcar/amd64-usr' -V 'current' -o ''`,
    );
    for (const type of ["install.started", "install.written", "install.failed"]) {
      expect(installer.text).toContain(`'{"type":"${type}","message":`);
    }
    expect(installer.text).toContain(`'${EVENTS}'`);
    const u = unit(doc, "baremetal-install.service").contents!;
    expect(u).toContain("\nConditionKernelCommandLine=baremetal.install_dev\n");
    expect(u).toContain("\nExecStart=/opt/baremetal/install-flatcar\n");
  });

  test("Fedora CoreOS reports the install outcome around coreos-installer", () => {
    const { doc } = installerOf(spec("fedora_coreos_stable"));
    const ok = unit(doc, "baremetal-installed.service").contents!;
    expect(ok).toContain("Before=coreos-installer-reboot.service");
    expect(ok).toContain("WantedBy=coreos-installer.target");
    expect(ok).toContain(
      `'{"type":"install.written","message":"Fedora CoreOS installed onto /dev/sda"}' '${EVENTS}'`,
    );
    expect(unit(doc, "coreos-installer.service").dropins?.[0]?.contents).toBe(
      "[Unit]\nOnFailure=baremetal-install-failed.service\n",
    );
    expect(unit(doc, "baremetal-install-failed.service").contents).toContain('"type":"install.failed"');
  });

  test("a % in a URL is doubled for systemd, which would read it as a specifier", () => {
    const s = spec("fedora_coreos_stable", { urls: bootServerUrls("http://10.0.0.1:8080/a%20b") });
    const ok = unit(ignitionOf(s).doc, "baremetal-phone-home.service").contents!;
    expect(ok).toContain("'http://10.0.0.1:8080/a%%20b/phone-home/");
  });

  test("userData (Ignition) is merged by Ignition from a data URL; custom data is a root-only file", () => {
    const theirs = JSON.stringify({
      ignition: { version: "3.3.0" },
      storage: { files: [{ path: "/etc/motd" }] },
    });
    const { doc, files } = ignitionOf(
      spec("flatcar_stable", { userData: theirs, customData: { rack: "r1" } }),
    );
    const source = doc.ignition.config!.merge[0]!.source;
    expect(source.startsWith("data:;base64,")).toBe(true);
    expect(Buffer.from(source.slice("data:;base64,".length), "base64").toString()).toBe(theirs);
    expect(files.get(CUSTOM_DATA_PATH)).toEqual({ mode: 0o600, text: '{\n  "rack": "r1"\n}\n' });
  });

  test("the user's config, custom data and the phone-home reach the installed system only", () => {
    for (const os of ["flatcar_stable", "fedora_coreos_stable"] as const) {
      const s = spec(os, {
        userData: JSON.stringify({
          ignition: { version: "3.4.0" },
          storage: { disks: [{ device: "/dev/sdb" }] },
        }),
        customData: { rack: "r1" },
      });
      const installed = ignitionOf(s);
      const installer = installerOf(s);
      // The installer: no merge, no custom data, no phone-home, no root password; the installing units.
      expect(installer.doc.ignition).toEqual({ version: IGNITION_SPEC_VERSION });
      expect(installer.files.has(CUSTOM_DATA_PATH)).toBe(false);
      expect(installer.doc.systemd.units.map((u) => u.name)).toEqual(
        os === "flatcar_stable"
          ? ["baremetal-install.service"]
          : ["baremetal-installed.service", "baremetal-install-failed.service", "coreos-installer.service"],
      );
      expect(PHONE_HOME.exec(renderInstallerIgnition(s))).toBeNull();
      expect(installer.doc.passwd.users).toEqual([{ name: "core", sshAuthorizedKeys: [KEY_A, KEY_B] }]);
      // The installed system: the merge, custom data and phone-home; nothing that installs.
      expect(installed.doc.ignition.config?.merge).toHaveLength(1);
      expect(installed.files.has(CUSTOM_DATA_PATH)).toBe(true);
      expect(installed.files.has("/opt/baremetal/install-flatcar")).toBe(false);
      expect(installed.doc.systemd.units.map((u) => u.name)).toEqual(["baremetal-phone-home.service"]);
      // Both: the same host name and network, so the installer reaches the boot server as the
      // installed system will.
      for (const [path, f] of installed.files) {
        if (path !== CUSTOM_DATA_PATH) expect(installer.files.get(path)).toEqual(f);
      }
    }
  });

  test("userData that is not a mergeable Ignition config is refused", () => {
    const ign = (userData: string) => refusal(() => renderIgnition(spec("flatcar_stable", { userData })));
    expect(ign("#cloud-config\nhostname: x\n")).toMatch(/must be an Ignition config \(JSON\)/);
    expect(ign('{"ignition":{"version":"2.3.0"}}')).toMatch(/version "2.3.0".*3.0.0 to 3.4.0/);
    expect(ign('{"ignition":{"version":"3.5.0"}}')).toMatch(/version "3.5.0"/);
    expect(ign("{}")).toMatch(/version null/);
  });
});

describe("cloud-init (Ubuntu autoinstall)", () => {
  const seed = (s: ProvisionSpec) => {
    const out = renderCloudInit(s);
    expect(out.userData.startsWith("#cloud-config\n")).toBe(true);
    const user = parseYaml(out.userData) as { autoinstall: Record<string, unknown> };
    return {
      out,
      autoinstall: user.autoinstall,
      installed: user.autoinstall["user-data"] as Record<string, unknown>,
    };
  };

  test("the installed system's cloud-config: host name, users and keys, root's hash, phone_home", () => {
    const { out, installed } = seed(spec("ubuntu_24_04"));
    expect(installed).toEqual({
      phone_home: { url: PHONE, post: "all", tries: 10 },
      hostname: "db-1.example.net",
      // The whole name is the system's, as on Flatcar and FCOS (cloud-init cuts at the first dot).
      fqdn: "db-1.example.net",
      prefer_fqdn_over_hostname: true,
      users: [
        {
          name: "ubuntu",
          groups: ["adm", "sudo"],
          shell: "/bin/bash",
          sudo: "ALL=(ALL) NOPASSWD:ALL",
          lock_passwd: true,
          ssh_authorized_keys: [KEY_A, KEY_B],
        },
        { name: "root", hashed_passwd: HASH, lock_passwd: false },
      ],
      ssh_pwauth: false,
    });
    expect(PHONE_HOME.exec(out.userData)?.[0]).toBe(PHONE);
  });

  test("autoinstall: version, installed network, whole-disk storage, events from late/error commands", () => {
    const { autoinstall } = seed(spec("ubuntu_22_04", { installDisk: "/dev/nvme0n1" }));
    expect(autoinstall.version).toBe(1);
    expect(autoinstall.storage).toEqual({ layout: { name: "direct", match: { path: "/dev/nvme0n1" } } });
    expect(autoinstall.ssh).toEqual({ "install-server": true, "allow-pw": false });
    expect(autoinstall.shutdown).toBe("reboot");
    const late = autoinstall["late-commands"] as string[];
    expect(late).toEqual([
      "curl -fsS --retry 10 --retry-delay 10 --retry-all-errors --connect-timeout 10 --max-time 30 " +
        `-H 'Content-Type: application/json' --data-raw '{"type":"install.written","message":"Ubuntu 22.04 installed"}' ` +
        `'${EVENTS}' || true`,
    ]);
    expect((autoinstall["error-commands"] as string[])[0]).toContain('"type":"install.failed"');
    expect(autoinstall.network).toEqual(
      parseYaml(renderCloudInit(spec("ubuntu_22_04")).networkConfig).network,
    );
    expect(seed(spec("ubuntu_24_04")).autoinstall.storage).toEqual({
      layout: { name: "direct", match: { size: "largest" } },
    });
  });

  test("a stable installDisk name becomes what subiquity matches: ID_PATH, ID_SERIAL; one it cannot match is refused", () => {
    const match = (installDisk: string) =>
      (seed(spec("ubuntu_24_04", { installDisk })).autoinstall.storage as { layout: { match: unknown } })
        .layout.match;
    // subiquity compares `path` with the kernel's name only: a symlink there matched no disk.
    expect(match("/dev/disk/by-path/pci-0000:00:17.0-ata-1")).toEqual({ id_path: "pci-0000:00:17.0-ata-1" });
    expect(match("/dev/disk/by-id/nvme-SAMSUNG_MZVL2512HCJQ_S675NX0T123456")).toEqual({
      serial: "SAMSUNG_MZVL2512HCJQ_S675NX0T123456",
    });
    expect(match("/dev/disk/by-id/ata-INTEL_SSDSC2BB480G7_PHDV710000GM480BGN")).toEqual({
      serial: "INTEL_SSDSC2BB480G7_PHDV710000GM480BGN",
    });
    for (const d of [
      "/dev/disk/by-id/wwn-0x5002538e40a0b1c2",
      "/dev/disk/by-id/nvme-eui.0025388b71b2c3d4",
      "/dev/disk/by-uuid/1234",
    ]) {
      expect(refusal(() => renderCloudInit(spec("ubuntu_24_04", { installDisk: d })))).toMatch(
        new RegExp(
          `^installDisk ${d.replace(/[.]/g, "\\.")}: Ubuntu's installer finds a disk by its kernel name, serial \\(ID_SERIAL\\) or ID_PATH only`,
        ),
      );
    }
  });

  test("meta-data: the token as instance-id, and the host name", () => {
    expect(renderCloudInit(spec("ubuntu_24_04")).metaData).toBe(
      `instance-id: ${TOKEN}\nlocal-hostname: db-1.example.net\n`,
    );
  });

  test("network-config v2: interfaces by MAC, renamed, static IPv4 + IPv6 (/31, /127), routes, resolvers", () => {
    expect(parseYaml(renderCloudInit(spec("ubuntu_24_04")).networkConfig)).toEqual({
      network: {
        version: 2,
        ethernets: {
          eth0: {
            match: { macaddress: "52:54:00:aa:00:01" },
            "set-name": "eth0",
            dhcp4: false,
            dhcp6: false,
            "accept-ra": false,
            addresses: ["198.51.100.10/31", "2001:db8::10/127"],
            routes: [
              { to: "0.0.0.0/0", via: "198.51.100.11" },
              { to: "::/0", via: "2001:db8::11" },
            ],
            nameservers: { addresses: ["9.9.9.9", "2620:fe::fe"] },
          },
          eth1: {
            match: { macaddress: "52:54:00:aa:00:02" },
            "set-name": "eth1",
            dhcp4: false,
            dhcp6: false,
            "accept-ra": false,
            addresses: ["10.20.0.5/24"],
            nameservers: { addresses: ["9.9.9.9", "2620:fe::fe"] },
          },
        },
      },
    });
  });

  test("a #cloud-config userData merges after ours: lists append, our values win", () => {
    const userData = [
      "#cloud-config",
      "hostname: evil",
      "phone_home: {url: 'http://elsewhere/x', tries: 1}",
      "users: [{name: deploy, ssh_authorized_keys: ['ssh-ed25519 AAAA deploy']}]",
      "packages: [htop]",
      "runcmd: [[touch, /tmp/ran]]",
    ].join("\n");
    const { installed } = seed(spec("ubuntu_24_04", { userData, customData: { a: 1 } }));
    expect(installed.hostname).toBe("db-1.example.net");
    expect(installed.phone_home).toEqual({ url: PHONE, post: "all", tries: 10 });
    expect((installed.users as { name: string }[]).map((u) => u.name)).toEqual(["ubuntu", "root", "deploy"]);
    expect(installed.packages).toEqual(["htop"]);
    expect(installed.runcmd).toEqual([["touch", "/tmp/ran"]]);
    expect(installed.write_files).toEqual([
      { path: CUSTOM_DATA_PATH, permissions: "0600", owner: "root:root", content: '{\n  "a": 1\n}\n' },
    ]);
  });

  test("a #cloud-config's SSH keys reach our ubuntu user: top-level keys and its own entry for ubuntu", () => {
    const userData = [
      "#cloud-config",
      "ssh_authorized_keys: ['ssh-ed25519 AAAA top']",
      "users:",
      "  - default",
      "  - {name: ubuntu, shell: /bin/zsh, ssh_authorized_keys: ['ssh-ed25519 AAAA mine', '" + KEY_A + "']}",
      "  - {name: deploy, ssh_authorized_keys: ['ssh-ed25519 AAAA deploy']}",
    ].join("\n");
    const { installed } = seed(spec("ubuntu_24_04", { userData }));
    // cloud-init would send top-level keys to a default user ours is not marked as (root, behind
    // a "log in as NONE" command), and of two ubuntu entries keep only the first (ours).
    expect(installed.ssh_authorized_keys).toBeUndefined();
    const users = installed.users as { name: string; shell?: string; ssh_authorized_keys?: string[] }[];
    expect(users.map((u) => u.name)).toEqual(["ubuntu", "root", "deploy"]);
    expect(users[0]!.ssh_authorized_keys).toEqual([
      KEY_A,
      KEY_B,
      "ssh-ed25519 AAAA mine",
      "ssh-ed25519 AAAA top",
    ]);
    expect(users[0]!.shell).toBe("/bin/bash");
    expect(users[2]!.ssh_authorized_keys).toEqual(["ssh-ed25519 AAAA deploy"]);
  });

  test("every Ubuntu document reads the same in YAML 1.1, as PyYAML reads it: MACs, no, 0644", () => {
    const decimal = "52:54:00:12:34:56";
    const s = spec("ubuntu_24_04", {
      interfaces: [{ ...spec("ubuntu_24_04").interfaces[0]!, mac: decimal }],
      userData: ["#cloud-config", "write_files: [{path: /etc/x, content: 'no', permissions: 0644}]"].join(
        "\n",
      ),
    });
    const out = renderCloudInit(s);
    const asPyYaml = (text: string) => parseYaml(text, { version: "1.1" }) as Record<string, unknown>;
    const network = asPyYaml(out.networkConfig).network as {
      ethernets: Record<string, { match: { macaddress: unknown } }>;
    };
    expect(Object.values(network.ethernets).map((e) => e.match.macaddress)).toEqual([decimal]);
    const installed = (asPyYaml(out.userData).autoinstall as Record<string, unknown>)["user-data"] as {
      write_files: { path: string; content: unknown; permissions: unknown }[];
    };
    // 0644 is octal in YAML 1.1 (420); "no" stays a string.
    expect(installed.write_files.find((f) => f.path === "/etc/x")).toMatchObject({
      content: "no",
      permissions: 420,
    });
  });

  test("a script userData becomes a per-instance script that cloud-init runs once", () => {
    const script = "#!/bin/sh\necho hello > /tmp/hello\n";
    const { installed } = seed(spec("ubuntu_24_04", { userData: script }));
    expect(installed.write_files).toEqual([
      { path: USER_SCRIPT_PATH, permissions: "0755", owner: "root:root", content: script },
    ]);
    expect(USER_SCRIPT_PATH.startsWith("/var/lib/cloud/scripts/per-instance/")).toBe(true);
  });

  test("other userData is refused", () => {
    const ci = (userData: string) => refusal(() => renderCloudInit(spec("ubuntu_24_04", { userData })));
    expect(ci('{"ignition":{}}')).toMatch(/must start with "#cloud-config" or be a script/);
    expect(ci("#cloud-config\n- a\n- b\n")).toMatch(/must be a YAML mapping/);
    expect(ci("#cloud-config\nkey: [unclosed\n")).toMatch(/not valid YAML/);
  });
});

describe("what the configs give away", () => {
  test("no secret but the password hash; the token only inside the machine's own URLs", () => {
    const own = [IGN, INSTALLER_IGN, PHONE, EVENTS, urls.cloudInit(TOKEN)];
    for (const os of ["flatcar_stable", "fedora_coreos_stable", "ubuntu_22_04", "ubuntu_24_04"] as const) {
      const b = renderBoot(spec(os));
      // Ignition files are data: URLs; look at what they say.
      const ignition = [b.ignition ?? "", b.installerIgnition ?? ""]
        .join("\n")
        .replace(/"data:,([^"]*)"/g, (_, d: string) => JSON.stringify(decodeURIComponent(d)));
      const all = [b.ipxe, ignition, b.cloudInit?.userData ?? "", b.cloudInit?.networkConfig ?? ""].join(
        "\n",
      );
      expect(all.split(HASH).length - 1).toBe(1);
      let rest = all.split(HASH).join("");
      for (const u of own) rest = rest.split(u).join("");
      rest = rest.split(`instance_id=${TOKEN}`).join("");
      expect(rest).not.toContain(TOKEN);
      expect(rest).not.toContain("$6$");
      expect(b.cloudInit?.metaData ?? "").not.toContain("$6$");
    }
  });

  test("the default route is the public block's, however the blocks are ordered", () => {
    const s = spec("ubuntu_24_04", {
      interfaces: [
        {
          name: "bond-priv",
          mac: "02:00:00:00:00:01",
          addresses: [{ cidr: "10.0.0.2/30", family: 4, gateway: "10.0.0.1", public: false }],
        },
        {
          name: "pub",
          mac: "02:00:00:00:00:02",
          addresses: [{ cidr: "203.0.113.2/30", family: 4, gateway: "203.0.113.1", public: true }],
        },
      ],
    });
    const net = (
      parseYaml(renderCloudInit(s).networkConfig) as {
        network: { ethernets: Record<string, { routes?: unknown }> };
      }
    ).network;
    expect(net.ethernets["bond-priv"]?.routes).toBeUndefined();
    expect(net.ethernets.pub?.routes).toEqual([{ to: "0.0.0.0/0", via: "203.0.113.1" }]);
  });
});

describe("refusals", () => {
  const boot = (over: Partial<ProvisionSpec>, os: OperatingSystem = "flatcar_stable") =>
    refusal(() => renderBoot(spec(os, over)));

  test("URLs with spaces, quotes or iPXE/shell syntax", () => {
    expect(boot({ urls: bootServerUrls("http://boot server") })).toBe(
      `events URL "http://boot server/events/${TOKEN}" contains a space: URLs in boot configs may not ` +
        "contain whitespace, quotes, backslashes or any of $ ; # ` < > { } | ^ (iPXE, the kernel command line " +
        "or a shell would split or expand them)",
    );
    const staged = { cloudInit: { userData: "", metaData: "", networkConfig: "" } };
    const badUrls = spec("ubuntu_24_04", { urls: bootServerUrls("http://boot server") });
    expect(refusal(() => renderIpxe(badUrls, staged))).toMatch(
      /^events URL "http:\/\/boot server\/events\/.*" contains a space/,
    );
    expect(boot({ urls: bootServerUrls(`http://boot"x`) })).toMatch(/contains """/);
    expect(boot({ urls: bootServerUrls("http://boot/'x") })).toMatch(/contains "'"/);
    expect(boot({ urls: bootServerUrls("http://boot/${net0/mac}") })).toMatch(/contains "\$"/);
    expect(boot({ images: { ...IMAGES, flatcar: "http://mirror/current\nshell" } })).toMatch(
      /images.flatcar .* contains whitespace \(U\+000A\)/,
    );
    expect(boot({ urls: bootServerUrls("ftp://boot") })).toMatch(/must be http or https, not ftp:/);
    expect(boot({ urls: bootServerUrls("http://user:pw@boot") })).toMatch(/carries credentials/);
    expect(boot({ ipxeScriptUrl: "http://x/a b" }, "custom_ipxe")).toMatch(
      /ipxeScriptUrl "http:\/\/x\/a b" contains a space/,
    );
    expect(boot({ ipxeScriptUrl: "http://x/a;shell" }, "custom_ipxe")).toMatch(/contains ";"/);
    expect(boot({ ipxeScriptUrl: "file:///etc/passwd" }, "custom_ipxe")).toMatch(/must be http or https/);
    expect(
      refusal(() => renderWipeIpxe(TOKEN, bootServerUrls("http://boot"), { ...IMAGES, wipe: "http://w/#x" })),
    ).toMatch(/images.wipe "http:\/\/w\/#x" contains "#"/);
  });

  test("host names, interfaces and addresses", () => {
    expect(boot({ hostname: "db-1;reboot" })).toBe(
      'hostname "db-1;reboot" is not a valid host name: use letters, digits and hyphens, in dot-separated labels ' +
        "of 1 to 63 characters that neither start nor end with a hyphen, at most 64 in all",
    );
    expect(boot({ hostname: `${"a".repeat(60)}.abcd` })).toMatch(/at most 64 in all$/);
    expect(boot({ hostname: "-x" }, "custom_ipxe")).toMatch(/not a valid host name/);
    expect(boot({ hostname: "a".repeat(64) })).toMatch(/not a valid host name/);
    const nic = spec("flatcar_stable").interfaces[0]!;
    expect(boot({ interfaces: [{ ...nic, mac: "52:54:00:aa:00" }] })).toMatch(
      /MAC "52:54:00:aa:00" is not of the form/,
    );
    expect(boot({ interfaces: [{ ...nic, name: "eth0/../x" }] })).toMatch(
      /interface name "eth0\/..\/x" must be/,
    );
    expect(boot({ interfaces: [nic, { ...nic, name: "eth9" }] })).toMatch(
      /MAC 52:54:00:aa:00:01 is given for two/,
    );
    const addr = (cidr: string, family: 4 | 6, gateway?: string) =>
      boot({ interfaces: [{ ...nic, addresses: [{ cidr, family, gateway, public: true }] }] });
    expect(addr("198.51.100.10", 4)).toMatch(/not an IPv4 address with a prefix length/);
    expect(addr("198.51.100.10/33", 4)).toMatch(/not an IPv4 address with a prefix length \(0 to 32\)/);
    expect(addr("2001:db8::1/64", 4)).toMatch(/not an IPv4 address/);
    expect(addr("198.51.100.10/29", 4, "198.51.100.1")).toMatch(
      /gateway 198.51.100.1 is not inside 198.51.100.10\/29/,
    );
    expect(addr("198.51.100.10/29", 4, "2001:db8::1")).toMatch(/is IPv6, expected IPv4/);
    expect(addr("198.51.100.10/32", 4, "198.51.100.10")).toMatch(/is the machine's own address/);
    expect(addr("2001:db8::10/128", 6, "fe80::1")).toBe("no error");
    expect(boot({ dns: ["9.9.9.9; rm -rf /"] })).toMatch(
      /dns\[0\] "9.9.9.9; rm -rf \/" is not an IP address/,
    );
    // Only plain dotted decimal and IPv6 text; nothing a resolver or shell reads another way.
    for (const odd of ["01.2.3.4", "1.2.3", "0x1.2.3.4", "1.2.3.4 ", "fe80::1%eth0", "2001:db8::1/64", ""]) {
      expect(boot({ dns: [odd] })).toMatch(/dns\[0\] .* is not an IP address/);
    }
    expect(addr("010.51.100.10/29", 4)).toMatch(/not an IPv4 address with a prefix length/);
    expect(boot({ dns: ["2001:DB8::1", "::ffff:192.0.2.1"] })).toBe("no error");
  });

  test("Fedora CoreOS and Ubuntu without a mirror: refused, saying how to lay one out", () => {
    const none = { ...IMAGES, fedoraCoreos: "", ubuntu: "" };
    expect(refusal(() => renderBoot(spec("fedora_coreos_stable", { images: none })))).toMatch(
      /^Fedora CoreOS installs from a mirror: set baremetal:osMirror \(BAREMETAL_OS_MIRROR\) to one laid out as <mirror>\/fedora-coreos\/fedora-coreos-live-/,
    );
    expect(refusal(() => renderBoot(spec("ubuntu_24_04", { images: none })))).toMatch(
      /^Ubuntu 24\.04 installs from a mirror: .*<mirror>\/ubuntu\/24\.04\/ubuntu-24\.04-live-server-amd64\.iso; the vendor publishes only versioned file names/,
    );
    // Flatcar names its files the same in every release: its channel directory is enough.
    expect(renderBoot(spec("flatcar_stable", { images: none })).ipxe).toContain(
      "flatcar_production_pxe.vmlinuz",
    );
  });

  test("keys, password hash, token, disk", () => {
    expect(boot({ sshKeys: [`${KEY_A}\nssh-ed25519 AAAAC3Nza attacker`] })).toMatch(
      /sshKeys\[0\] .* is not one OpenSSH public key line/,
    );
    expect(boot({ sshKeys: ["-----BEGIN OPENSSH PRIVATE KEY-----"] })).toMatch(/sshKeys\[0\]/);
    expect(boot({ rootPasswordHash: "hunter2" })).toMatch(
      /rootPasswordHash is not a crypt\(3\) SHA-512 hash/,
    );
    expect(boot({ rootPasswordHash: "hunter2" })).not.toContain("hunter2");
    expect(boot({ token: "../../etc" })).toMatch(/token must be/);
    expect(boot({ installDisk: "/dev/sda; reboot" })).toMatch(
      /installDisk "\/dev\/sda; reboot" is not a \/dev path/,
    );
    expect(boot({ installDisk: "/dev/../etc/passwd" })).toMatch(/is not a \/dev path/);
  });
});

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
