// The switch's links in memory, and the iproute2 commands of the `linux-bridge-per-vlan`
// dialect run against them. With `vlanAware`, the switch is instead a kernel with 802.1Q: one
// VLAN-aware bridge br0 and `bridge vlan` per port, as the `linux` dialect drives it (access
// and trunk ports); that mode's outputs follow iproute2's formats but were not observed here,
// since this machine's kernel has no 802.1Q. Outputs, messages and exit codes are those of iproute2 6.1 on the
// real lab switch (a kernel without 802.1Q: one plain bridge `vlan<N>` per VLAN, ports
// swp1..swpN, veths whose other ends are the machines' NICs):
//   - `ip` exits 1 on its own errors ("Cannot find device"), 2 when the kernel refuses
//     ("RTNETLINK answers: ..."), 255 when it rejects an argument (invarg() exits -1);
//   - `-j` prints one JSON array on one line.
// Tokens reach this file already checked against the restricted shell's forms (switch-shell.ts).

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

interface Link {
  ifindex: number;
  name: string;
  kind: "loopback" | "veth" | "bridge";
  up: boolean;
  mac: string;
  /** Ports only: the bridge they are attached to. */
  master?: string;
  /** Ports only: the peer's netns id in this namespace (one namespace per machine). */
  netnsid?: number;
}

interface PortVlan {
  pvid: boolean;
  untagged: boolean;
}

const BR = "br0";

const OK: CommandResult = { stdout: "", stderr: "", code: 0 };
const fail = (code: number, stderr: string): CommandResult => ({ stdout: "", stderr, code });
const noDevice = (name: string) => fail(1, `Cannot find device "${name}"\n`);

export class Iproute2Model {
  private readonly links = new Map<string, Link>();
  /** VLAN-aware mode: each bridge member's (and br0's own, "self") VLANs. */
  private readonly vlans = new Map<string, Map<number, PortVlan>>();
  private nextIndex = 1;

  constructor(
    ports: number,
    readonly vlanAware = false,
  ) {
    this.add({ name: "lo", kind: "loopback", up: false, mac: "00:00:00:00:00:00" });
    // Ports start up (the lab brings them up when it cables them), in no bridge.
    for (let i = 1; i <= ports; i++) {
      this.add({ name: `swp${i}`, kind: "veth", up: true, mac: macFor(0x5a, i), netnsid: i - 1 });
    }
    if (vlanAware) {
      // Set up as the `linux` dialect expects: br0 with vlan_filtering 1 and vlan_default_pvid 0.
      this.add({ name: BR, kind: "bridge", up: true, mac: macFor(0x5b, 0) });
    }
  }

  /** Runs one command line (already split and allowed). */
  run(tokens: string[]): CommandResult {
    const line = tokens.join(" ");
    let m: RegExpExecArray | null;
    if ((m = /^ip link add name (\S+) type bridge$/.exec(line))) return this.addBridge(m[1]!);
    if ((m = /^ip link del dev (\S+)$/.exec(line))) return this.delete(m[1]!);
    if ((m = /^ip link set dev (\S+) (up|down)$/.exec(line))) return this.setUp(m[1]!, m[2] === "up");
    if ((m = /^ip link set dev (\S+) master (\S+)$/.exec(line))) return this.attach(m[1]!, m[2]!);
    if ((m = /^ip link set dev (\S+) nomaster$/.exec(line))) return this.detach(m[1]!);
    if ((m = /^ip -j -d link show dev (\S+)$/.exec(line))) return this.showOne(m[1]!);
    if (line === "ip -j link show type bridge") return this.show((l) => l.kind === "bridge");
    if (line === "ip -j link show") return this.show(() => true);
    if (this.vlanAware) {
      if ((m = /^bridge vlan (add|del) dev (\S+) vid (\d+)((?: (?:pvid|untagged|self|master))*)$/.exec(line)))
        return this.bridgeVlan(m[1] as "add" | "del", m[2]!, Number(m[3]), m[4]!.trim().split(" "));
      if (line === "bridge -j vlan show") return this.vlanShow();
      if ((m = /^bridge -j vlan show dev (\S+)$/.exec(line))) return this.vlanShow(m[1]!);
    }
    // Seen on the real lab switch: this kernel has no 802.1Q, so bridge(8) fails in the kernel.
    if ((m = /^bridge vlan (?:add|del) dev (\S+) /.exec(line))) {
      if (!this.links.has(m[1]!)) return fail(1, `Cannot find bridge device "${m[1]}"\n`);
      return fail(255, "RTNETLINK answers: Operation not supported\n");
    }
    // Assumed, not observed: without 802.1Q no link carries VLAN data, so the list is empty.
    if (line === "bridge -j vlan show") return { stdout: "[]\n", stderr: "", code: 0 };
    return fail(255, `Command "${tokens.slice(1).join(" ")}" is unknown, try "ip help".\n`);
  }

  /** The bridge a port is attached to (read directly, as the real lab's portMaster does). */
  masterOf(port: string): string | undefined {
    return this.links.get(port)?.master;
  }

  /**
   * The VLAN whose traffic a port carries: attached to bridge vlan<N>, the port up and the
   * bridge up (a bridge that is down forwards nothing).
   */
  vlanOfPort(port: string): number | undefined {
    const link = this.links.get(port);
    if (!link?.up || !link.master) return undefined;
    if (this.vlanAware) {
      // Untagged traffic (a netbooting NIC's) lands in the port's PVID, if it egresses untagged.
      const pvid = [...(this.vlans.get(port) ?? [])].find(([, f]) => f.pvid && f.untagged)?.[0];
      return pvid !== undefined && this.vlans.get(BR)?.has(pvid) ? pvid : undefined;
    }
    const bridge = this.links.get(link.master);
    const m = /^vlan(\d+)$/.exec(link.master);
    return bridge?.up && m ? Number(m[1]) : undefined;
  }

  hasPort(port: string): boolean {
    return this.links.get(port)?.kind === "veth";
  }

  bridges(): string[] {
    return [...this.links.values()].filter((l) => l.kind === "bridge").map((l) => l.name);
  }

  private add(link: Omit<Link, "ifindex">): void {
    this.links.set(link.name, { ...link, ifindex: this.nextIndex++ });
  }

  private addBridge(name: string): CommandResult {
    if (this.links.has(name)) return fail(2, "RTNETLINK answers: File exists\n");
    // Kernels give a new bridge a random address; a stable one per name keeps outputs comparable.
    this.add({ name, kind: "bridge", up: false, mac: macFor(0x5b, this.nextIndex) });
    return OK;
  }

  private delete(name: string): CommandResult {
    const link = this.links.get(name);
    if (!link) return noDevice(name);
    // Only bridges reach here (the shell allows `del` of vlan<N> only); their ports are released.
    for (const l of this.links.values()) if (l.master === name) l.master = undefined;
    this.links.delete(name);
    return OK;
  }

  private setUp(name: string, up: boolean): CommandResult {
    const link = this.links.get(name);
    if (!link) return noDevice(name);
    link.up = up;
    return OK;
  }

  /** VLAN-aware mode: the port's VLANs, ascending, as `bridge vlan show` lists them. */
  portVlans(port: string): { vlan: number; pvid: boolean; untagged: boolean }[] {
    return [...(this.vlans.get(port) ?? [])].sort(([a], [b]) => a - b).map(([vlan, f]) => ({ vlan, ...f }));
  }

  private bridgeVlan(op: "add" | "del", dev: string, vid: number, flags: string[]): CommandResult {
    const link = this.links.get(dev);
    if (!link) return fail(1, `Cannot find bridge device "${dev}"\n`);
    const self = flags.includes("self");
    if (self ? dev !== BR : link.master !== BR)
      return fail(255, "RTNETLINK answers: Operation not supported\n");
    const table = this.vlans.get(dev) ?? new Map<number, PortVlan>();
    this.vlans.set(dev, table);
    if (op === "del") {
      if (!table.delete(vid)) return fail(255, "RTNETLINK answers: No such file or directory\n");
      return OK;
    }
    const pvid = flags.includes("pvid");
    // One PVID per port: a new one takes the flag from the old.
    if (pvid) for (const f of table.values()) f.pvid = false;
    table.set(vid, { pvid, untagged: flags.includes("untagged") });
    return OK;
  }

  private vlanShow(dev?: string): CommandResult {
    if (dev !== undefined && !this.links.has(dev)) return fail(1, `Cannot find device "${dev}"\n`);
    const names = [...this.vlans.keys()]
      .filter((n) => (dev === undefined || n === dev) && (this.vlans.get(n)?.size ?? 0) > 0)
      .sort((a, b) => this.links.get(a)!.ifindex - this.links.get(b)!.ifindex);
    const out = names.map((n) => ({
      ifname: n,
      vlans: [...this.vlans.get(n)!]
        .sort(([a], [b]) => a - b)
        .map(([vlan, f]) => {
          const flags = [...(f.pvid ? ["PVID"] : []), ...(f.untagged ? ["Egress Untagged"] : [])];
          return flags.length ? { vlan, flags } : { vlan };
        }),
    }));
    return { stdout: JSON.stringify(out) + "\n", stderr: "", code: 0 };
  }

  private attach(port: string, bridge: string): CommandResult {
    // `ip` resolves `master` while it parses its arguments, before it looks the device up:
    // a missing bridge wins over a missing port.
    if (!this.links.has(bridge))
      return fail(255, `Error: argument "${bridge}" is wrong: Device does not exist\n\n`);
    const link = this.links.get(port);
    if (!link) return noDevice(port);
    // vlan_default_pvid 0: a port joins br0 carrying no VLAN.
    if (this.vlanAware && bridge === BR && link.master !== BR) this.vlans.set(port, new Map());
    link.master = bridge; // moving from another bridge is one step, as in the kernel
    return OK;
  }

  private detach(port: string): CommandResult {
    const link = this.links.get(port);
    if (!link) return noDevice(port);
    link.master = undefined;
    this.vlans.delete(port);
    return OK;
  }

  private showOne(name: string): CommandResult {
    const link = this.links.get(name);
    if (!link) return fail(1, `Device "${name}" does not exist.\n`);
    return { stdout: JSON.stringify([this.json(link, true)]) + "\n", stderr: "", code: 0 };
  }

  private show(which: (l: Link) => boolean): CommandResult {
    const links = [...this.links.values()].filter(which).sort((a, b) => a.ifindex - b.ifindex);
    return { stdout: JSON.stringify(links.map((l) => this.json(l, false))) + "\n", stderr: "", code: 0 };
  }

  /** One link as `ip -j [-d] link show` prints it, keys in iproute2's order. */
  private json(link: Link, details: boolean): Record<string, unknown> {
    if (link.kind === "loopback") {
      return {
        ifindex: link.ifindex,
        ifname: link.name,
        flags: link.up ? ["LOOPBACK", "UP", "LOWER_UP"] : ["LOOPBACK"],
        mtu: 65536,
        qdisc: link.up ? "noqueue" : "noop",
        operstate: link.up ? "UNKNOWN" : "DOWN",
        linkmode: "DEFAULT",
        group: "default",
        txqlen: 1000,
        link_type: "loopback",
        address: link.mac,
        broadcast: link.mac,
        ...(details ? { promiscuity: 0, min_mtu: 0, max_mtu: 0, ...QUEUES } : {}),
      };
    }
    const carrier = link.kind === "veth" ? link.up : link.up && this.hasUpPort(link.name);
    const flags = [
      ...(link.up && !carrier ? ["NO-CARRIER"] : []),
      "BROADCAST",
      "MULTICAST",
      ...(link.up ? ["UP"] : []),
      ...(carrier ? ["LOWER_UP"] : []),
    ];
    const out: Record<string, unknown> = { ifindex: link.ifindex };
    out.ifname = link.name;
    if (link.kind === "veth") out.link_index = 2; // the peer: eth0 in the machine's namespace
    Object.assign(out, { flags, mtu: 1500, qdisc: link.up ? "noqueue" : "noop" });
    if (link.master) out.master = link.master;
    Object.assign(out, {
      operstate: carrier ? "UP" : "DOWN",
      linkmode: "DEFAULT",
      group: "default",
      txqlen: 1000,
      link_type: "ether",
      address: link.mac,
      broadcast: "ff:ff:ff:ff:ff:ff",
    });
    if (link.kind === "veth") out.link_netnsid = link.netnsid;
    if (!details) return out;
    out.promiscuity = link.master ? 1 : 0;
    out.min_mtu = 68;
    out.max_mtu = 65535;
    out.linkinfo = link.kind === "bridge" ? this.bridgeInfo(link) : this.portInfo(link);
    return Object.assign(out, { inet6_addr_gen_mode: "eui64", ...QUEUES });
  }

  private hasUpPort(bridge: string): boolean {
    for (const l of this.links.values()) if (l.master === bridge && l.up) return true;
    return false;
  }

  private bridgeInfo(link: Link) {
    const id = bridgeId(link.mac);
    return {
      info_kind: "bridge",
      info_data: {
        forward_delay: 1500,
        hello_time: 200,
        max_age: 2000,
        ageing_time: 30000,
        stp_state: 0,
        priority: 32768,
        bridge_id: id,
        root_id: id,
        root_port: 0,
        root_path_cost: 0,
        topology_change: 0,
        topology_change_detected: 0,
        hello_timer: 0,
        tcn_timer: 0,
        topology_change_timer: 0,
        gc_timer: 0,
        group_fwd_mask: "0",
        group_addr: "01:80:c2:00:00:00",
        mcast_snooping: 1,
        mcast_router: 1,
        mcast_query_use_ifaddr: 0,
        mcast_querier: 0,
        mcast_hash_elasticity: 16,
        mcast_hash_max: 4096,
        mcast_last_member_cnt: 2,
        mcast_startup_query_cnt: 2,
        mcast_last_member_intvl: 100,
        mcast_membership_intvl: 26000,
        mcast_querier_intvl: 25500,
        mcast_query_intvl: 12500,
        mcast_query_response_intvl: 1000,
        mcast_startup_query_intvl: 3125,
        mcast_stats_enabled: 0,
        mcast_igmp_version: 2,
        mcast_mld_version: 1,
        nf_call_iptables: 0,
        nf_call_ip6tables: 0,
        nf_call_arptables: 0,
      },
    };
  }

  private portInfo(link: Link) {
    if (!link.master) return { info_kind: "veth" };
    const bridge = this.links.get(link.master)!;
    const no = link.ifindex - 1; // port numbers count from 1 on each bridge; close enough
    return {
      info_kind: "veth",
      info_slave_kind: "bridge",
      info_slave_data: {
        state: link.up && bridge.up ? "forwarding" : "disabled",
        priority: 32,
        cost: 2,
        hairpin: false,
        guard: false,
        root_block: false,
        fastleave: false,
        learning: true,
        flood: true,
        id: `0x${(0x8000 + no).toString(16)}`,
        no: `0x${no.toString(16)}`,
        designated_port: 0x8000 + no,
        designated_cost: 0,
        bridge_id: bridgeId(bridge.mac),
        root_id: bridgeId(bridge.mac),
        hold_timer: 0,
        message_age_timer: 0,
        forward_delay_timer: 0,
        topology_change_ack: 0,
        config_pending: 0,
        proxy_arp: false,
        proxy_arp_wifi: false,
        multicast_router: 1,
        mcast_flood: true,
        bcast_flood: true,
        mcast_to_unicast: false,
        neigh_suppress: false,
        group_fwd_mask: "0",
        group_fwd_mask_str: "0x0",
        vlan_tunnel: false,
        isolated: false,
        locked: false,
      },
    };
  }
}

const QUEUES = {
  num_tx_queues: 1,
  num_rx_queues: 1,
  gso_max_size: 65536,
  gso_max_segs: 65535,
  tso_max_size: 524280,
  tso_max_segs: 65535,
  gro_max_size: 65536,
};

/** A locally administered MAC: first byte 02, then a kind byte and the index. */
function macFor(kind: number, index: number): string {
  const bytes = [0x02, kind, (index >> 24) & 255, (index >> 16) & 255, (index >> 8) & 255, index & 255];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** iproute2 prints bridge ids as priority "." and the address's bytes in unpadded hex. */
function bridgeId(mac: string): string {
  return (
    "8000." +
    mac
      .split(":")
      .map((b) => parseInt(b, 16).toString(16))
      .join(":")
  );
}
