package dev.weft.localcluster;

import dev.weft.localcluster.ClusterState.NodeState;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.weft.localcluster.Sh.cmd;

/**
 * The network of the local cluster, after the project's reference notes on several nodes on one machine: an underlay netns holding
 * a Linux bridge; per node a netns with {@code eth0} into that bridge, its own ovsdb-server and ovs-vswitchd (userspace
 * datapath), {@code br-phy} carrying the node IP (native tunnelling needs the IP on an OVS bridge) and {@code br-int}
 * (netdev, fail_mode=secure) for the agent. Nothing is created in the root namespace: both veth ends are created
 * directly inside our namespaces, so deleting the namespaces removes every interface.
 */
final class Topology {
    static final String UNDERLAY_PREFIX = "192.168.77.";
    /**
     * The outside host: the last address of the underlay subnet (nodes take .11 upwards), outside the cluster CIDR;
     * the nodes' default route points at it, as a node's points at the router towards the internet.
     */
    static final String OUTSIDE_IP = UNDERLAY_PREFIX + "254";
    static final String OUTSIDE_MAC = "02:77:00:00:fe:01";
    /** The agent's HTTP/gRPC port on its node's IP (the bundle's AGENT_HTTP_PORT, hostNetwork). */
    static final int AGENT_PORT = 9093;
    /**
     * The root namespace's address on the underlay: a veth from the root netns into the underlay
     * bridge, so that containers in the node namespaces reach the API server, which listens here as well as on loopback.
     */
    static final String API_IP = UNDERLAY_PREFIX + "2";

    private final Layout layout;

    Topology(Layout layout) {
        this.layout = layout;
    }

    static String underlayNetns(String id) {
        return "wft-" + id + "-underlay";
    }

    static String nodeNetns(String id, String node) {
        return "wft-" + id + "-" + node;
    }

    static ClusterState.HostState planOutside(String id) {
        return new ClusterState.HostState("outside", "wft-" + id + "-outside", OUTSIDE_IP, OUTSIDE_MAC);
    }

    /**
     * The outside host: its netns, {@code eth0} into the underlay bridge with {@link #OUTSIDE_IP}/24 and nothing else.
     * No route to any pod CIDR and no default route, like a server on the internet: it can answer the node IPs that
     * masqueraded pod traffic comes from, but it cannot reach a pod.
     */
    void createOutside(ClusterState cluster) {
        ClusterState.HostState host = cluster.outside();
        String ulPort = "wu" + cluster.id() + "out";
        addNetns(host.netns());
        Sh.check("ip", "-n", host.netns(), "link", "set", "lo", "up");
        Sh.check("ip", "link", "add", "eth0", "netns", host.netns(), "address", host.mac(), "type", "veth",
                "peer", "name", ulPort, "netns", cluster.underlayNetns());
        Sh.check("ip", "-n", cluster.underlayNetns(), "link", "set", ulPort, "master", "br0", "up");
        Sh.check("ip", "-n", host.netns(), "addr", "add", host.ip() + "/24", "dev", "eth0");
        // Its replies reach the nodes' eth0 through the bridge and are read by the userspace datapath, which does not
        // complete a checksum a veth left to offload: without this every reply arrives with a bad checksum (the nodes'
        // conntrack then cannot undo the SNAT). The agent does the same on pod interfaces.
        Sh.check("ip", "netns", "exec", host.netns(), "ethtool", "-K", "eth0", "tx", "off");
        Sh.check("ip", "-n", host.netns(), "link", "set", "eth0", "up");
    }

    /**
     * The root namespace's leg on the underlay (the API server's address for the nodes and the pods, the tools' way to
     * the system pods' ports): {@code wa<id>} with {@link #API_IP}/24 in the root
     * netns, its peer in the underlay bridge. Deleting the underlay netns removes both ends.
     */
    void createApiLink(ClusterState cluster) {
        String root = "wa" + cluster.id();
        String ulPort = "wu" + cluster.id() + "api";
        Sh.check("ip", "link", "add", root, "type", "veth", "peer", "name", ulPort, "netns", cluster.underlayNetns());
        Sh.check("ip", "-n", cluster.underlayNetns(), "link", "set", ulPort, "master", "br0", "up");
        Sh.check("ip", "addr", "add", API_IP + "/24", "dev", root);
        // As for the outside host: the nodes' userspace datapath does not complete checksums a veth left to offload.
        Sh.check("ethtool", "-K", root, "tx", "off");
        Sh.check("ip", "link", "set", root, "up");
    }

    /**
     * Node i (1-based): IP 192.168.77.(10+i), locally administered MACs that differ between eth0 and br-phy; its
     * directories under a per-node root ({@code nodes/NODE/root}, where the pods' hostPath volumes are): Open vSwitch's
     * run directory, the CNI directories and the agent's state and socket are where the bundle's volumes put them.
     */
    static NodeState plan(Layout layout, String id, int index) {
        String name = "node" + index;
        Path root = nodeRoot(layout, name);
        // Open vSwitch's sockets (db.sock, br-int.mgmt) through the short link: a unix socket path has at most 108 bytes.
        return new NodeState(name, nodeNetns(id, name), UNDERLAY_PREFIX + (10 + index),
                String.format("02:77:00:00:%02x:01", index), String.format("02:77:00:00:%02x:02", index),
                nodeRootLink(id, name).resolve("var/run/openvswitch").toString(), AGENT_PORT,
                root.resolve("var/lib/weft/agent").toString(), root.resolve("var/run/weft/cni.sock").toString(),
                root.resolve("etc/cni/net.d").toString(), root.resolve("opt/cni/bin").toString());
    }

    /** The node's file system as its pods' hostPath volumes see it. */
    static Path nodeRoot(Layout layout, String node) {
        return layout.node(node).resolve("root");
    }

    /**
     * A short name for the node's root ({@code /run/wft-ID-NODE}, a symbolic link made by {@code up}, removed by
     * {@code down}): the agent's sockets under it stay within the 108 bytes a unix socket path may have, wherever the
     * cluster's home is.
     */
    static Path nodeRootLink(ClusterState cluster, String node) {
        return nodeRootLink(cluster.id(), node);
    }

    static Path nodeRootLink(String clusterId, String node) {
        return Path.of("/run/wft-" + clusterId + "-" + node);
    }

    /**
     * Where the node's agent serves its local query API (agent.local-api-socket, /var/run/weft/agent.sock on a node,
     * the weft-run hostPath), through the short link.
     */
    static Path agentSocket(Layout layout, NodeState node) {
        return nodeRootLink(layout.requireCluster(), node.name()).resolve("var/run/weft/agent.sock");
    }

    /** The node's netns and its underlay link, without Open vSwitch (it runs in the agent pod's openvswitch container). */
    void createNodeNetns(ClusterState cluster, NodeState node, int index) {
        linkNode(cluster, node, index);
        // Until br-phy carries the node IP (configureNodeNetwork), eth0 does: the pods reach the API server.
        Sh.check("ip", "-n", node.netns(), "addr", "add", node.ip() + "/24", "dev", "eth0");
    }

    /** The node's netns with lo up and eth0, a veth whose peer is a port of the underlay's bridge. */
    private void linkNode(ClusterState cluster, NodeState node, int index) {
        String ns = node.netns();
        String ul = cluster.underlayNetns();
        String ulPort = "wu" + cluster.id() + "n" + index;
        addNetns(ns);
        Sh.check("ip", "-n", ns, "link", "set", "lo", "up");
        Sh.check("ip", "link", "add", "eth0", "netns", ns, "address", node.underlayMac(), "type", "veth",
                "peer", "name", ulPort, "netns", ul);
        Sh.check("ip", "-n", ul, "link", "set", ulPort, "master", "br0", "up");
        // Trap from the reference: without arp_ignore both eth0 and br-phy answer ARP for the node IP.
        Sh.check("ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.conf.all.arp_ignore=1",
                "net.ipv4.conf.default.arp_ignore=1");
        Sh.check("ip", "-n", ns, "link", "set", "eth0", "up");
    }

    /**
     * The node's network configuration once its Open vSwitch runs (in the agent pod's openvswitch container, driven
     * through the socket in the node's run directory): br-phy with eth0 and the node IP, br-int,
     * the default route, as the host's network configuration would do on a real node.
     */
    void configureNodeNetwork(NodeState node) {
        String ns = node.netns();
        vsctl(node, "--may-exist", "add-br", "br-phy", "--", "set", "bridge", "br-phy", "datapath_type=netdev",
                "other_config:hwaddr=\"" + node.brPhyMac() + "\"");
        vsctl(node, "--may-exist", "add-port", "br-phy", "eth0");
        vsctl(node, "--may-exist", "add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev",
                "protocols=OpenFlow10,OpenFlow13,OpenFlow15", "fail_mode=secure");
        waitForLink(ns, "br-phy");
        Sh.run("ip", "-n", ns, "addr", "del", node.ip() + "/24", "dev", "eth0");
        Sh.check("ip", "-n", ns, "link", "set", "br-phy", "address", node.brPhyMac());
        Sh.check("ip", "-n", ns, "addr", "replace", node.ip() + "/24", "dev", "br-phy");
        Sh.check("ip", "-n", ns, "link", "set", "br-phy", "up");
        defaultRoute(node);
    }

    void createUnderlay(String netns) {
        addNetns(netns);
        Sh.check("ip", "-n", netns, "link", "set", "lo", "up");
        Sh.check("ip", "-n", netns, "link", "add", "br0", "type", "bridge");
        Sh.check("ip", "-n", netns, "link", "set", "br0", "up");
    }

    void addNetns(String netns) {
        layout.rememberNetns(netns);
        Sh.Result r = Sh.run("ip", "netns", "add", netns);
        if (!r.ok()) {
            throw new IllegalStateException("cannot create network namespace " + netns + " (left over? run ./localcluster down): " + r.err().strip());
        }
    }

    /** Everything that is not the underlay or a pod CIDR goes to the outside host (the node's "internet router"). */
    private static void defaultRoute(NodeState node) {
        Sh.check("ip", "-n", node.netns(), "route", "replace", "default", "via", OUTSIDE_IP, "dev", "br-phy");
    }

    /** Pre-resolves every peer's MAC for native tunnelling: the first encapsulated packet is dropped otherwise. */
    void primeTunnelNeighbours(ClusterState cluster) {
        for (NodeState node : cluster.nodes()) {
            for (NodeState peer : cluster.nodes()) {
                if (peer != node) {
                    appctl(node, "ovs-vswitchd", "tnl/neigh/set", "br-phy", peer.ip(), peer.brPhyMac());
                    Sh.run("ip", "-n", node.netns(), "neigh", "replace", peer.ip(), "lladdr", peer.brPhyMac(), "dev", "br-phy",
                            "nud", "permanent");
                }
            }
        }
    }

    static Map<String, String> ovsEnv(NodeState node) {
        String dir = node.ovsRunDir();
        return Map.of("OVS_RUNDIR", dir, "OVS_DBDIR", dir, "OVS_LOGDIR", dir, "OVS_SYSCONFDIR", dir, "OVS_PKGDATADIR",
                "/usr/share/openvswitch");
    }

    static Sh.Result vsctl(NodeState node, String... args) {
        return Sh.run(cmd("ovs-vsctl", "--db=unix:" + Path.of(node.ovsRunDir(), "db.sock"), "--timeout=30", List.of(args)),
                ovsEnv(node), null, 40).check();
    }

    static Sh.Result ofctl(NodeState node, String... args) {
        return Sh.run(cmd("ovs-ofctl", List.of(args)), ovsEnv(node), null, 40);
    }

    static Sh.Result appctl(NodeState node, String daemon, String... args) {
        return Sh.run(cmd("ovs-appctl", "-t", control(node, daemon), List.of(args)), ovsEnv(node), null, 40);
    }

    /** The daemon's control socket: DAEMON.PID.ctl as the openvswitch container starts it (DAEMON.ctl if named so). */
    private static Path control(NodeState node, String daemon) {
        Path dir = Path.of(node.ovsRunDir());
        Path named = dir.resolve(daemon + ".ctl");
        if (Files.exists(named)) {
            return named;
        }
        try (var s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().matches(java.util.regex.Pattern.quote(daemon) + "\\.\\d+\\.ctl"))
                    .findFirst().orElse(named);
        } catch (IOException e) {
            return named;
        }
    }

    static void waitForLink(String netns, String link) {
        long deadline = System.currentTimeMillis() + 15_000;
        while (!Sh.run("ip", "-n", netns, "link", "show", link).ok()) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("interface " + link + " did not appear in " + netns);
            }
            Procs.sleep(20);
        }
    }
}
