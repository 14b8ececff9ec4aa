package dev.weft.agent.host;

import dev.weft.agent.host.HostNetworkReconciler.Aspect;
import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.ovsdb.OvsdbClient;
import dev.weft.agent.testing.OvsSandbox;
import dev.weft.net.IpPrefix;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The node's host side on the real thing: a node namespace with its own Open vSwitch (userspace), where the agent
 * creates br-int and the gateway, then keeps forwarding, the gateway address, routes to the peers and the SNAT table
 * in place as peers come and go and as someone tampers with them.
 */
class HostNetworkReconcilerTest {

    static final String POD_CIDR = "10.233.1.0/24";
    static final PeerNodesChanged.Peer PEER_A = new PeerNodesChanged.Peer("node-a", List.of("10.233.2.0/24"), "192.168.90.3");
    static final PeerNodesChanged.Peer PEER_B = new PeerNodesChanged.Peer("node-b", List.of("10.233.3.0/24", "fd00:3::/64"), "192.168.90.4");

    OvsSandbox ovs;
    OvsdbClient ovsdb;
    HostCommands node;
    NodeBridge bridge;
    NodeNetwork network;

    @BeforeEach
    void start() throws Exception {
        TestNetns.requireRootAndNft();
        ovs = OvsSandbox.startInNetns();
        ovsdb = new OvsdbClient(ovs.dbSocket(), Duration.ofSeconds(10));
        node = new HostCommands(Optional.of(ovs.netns));
        String s = TestNetns.suffix();
        bridge = new NodeBridge(ovsdb, new NodeBridge.Layout("bw" + s, "netdev", "gw" + s, 2, "tun" + s, "geneve"));
        bridge.ensureBridge();
        int ofport = bridge.ensureGateway("0a:58:0a:e9:01:01", 1450);
        network = new NodeNetwork("n1", List.of(POD_CIDR), List.of("10.233.1.1"), "0a:58:0a:e9:01:01", "gw" + s, ofport,
                "192.168.90.2", 1450);
    }

    @AfterEach
    void stop() {
        if (ovsdb != null) {
            ovsdb.close();
        }
        if (ovs != null) {
            ovs.close(); // deletes the node namespace with its routes and nftables tables
        }
    }

    private HostNetworkReconciler reconciler(HostNetworkReconciler.Snat snat) {
        return new HostNetworkReconciler(node, bridge, new HostNetworkReconciler.Settings(snat, List.of()));
    }

    private String weftRoutes() throws Exception {
        return node.ip("-4", "route", "show", "proto", Integer.toString(PeerRoutes.PROTOCOL)).strip();
    }

    private String gw() {
        return network.gatewayIfName();
    }

    @Test
    void everythingInPlaceFromABareNode() throws Exception {
        node.writeSysctl("net/ipv4/ip_forward", "0");
        HostNetworkReconciler r = reconciler(HostNetworkReconciler.Snat.MASQUERADE);
        assertEquals(Map.of(), r.reconcile(network, List.of(PEER_A, PEER_B)));

        assertEquals("1", node.readSysctl("net/ipv4/ip_forward"));
        assertTrue(node.ip("-4", "addr", "show", "dev", gw()).contains("inet 10.233.1.1/24"));
        assertTrue(node.ip("link", "show", "dev", gw()).contains("mtu 1450"));
        assertEquals("10.233.2.0/24 via 10.233.2.1 dev " + gw() + " onlink \n"
                + "10.233.3.0/24 via 10.233.3.1 dev " + gw() + " onlink", weftRoutes());
        String table = node.inNode(null, "nft", "list", "table", "ip", "weft");
        assertTrue(table.contains("elements = { 10.233.1.0/24 }"), table);
        assertTrue(table.contains("elements = { 10.233.1.0-10.233.3.255 }") || table.contains("10.233.2.0/24"), table);
        assertFalse(table.contains("192.168.90."), "node IPs are not exempt: pod to another node is masqueraded\n" + table);
        assertTrue(table.contains("ip saddr @local_pod_cidrs ip daddr != @cluster_cidrs masquerade"), table);
        // The tunnel port came with the bridge aspect.
        assertTrue(ovsdb.getPort(bridge.layout().tunnelName()).orElseThrow().ofport() > 0);

        // The gateway deleted from the bridge comes back, on its requested OpenFlow port, with its address.
        ovs.vsctl("del-port", bridge.layout().bridge(), gw());
        assertEquals(Map.of(), r.reconcile(network, List.of(PEER_A, PEER_B)));
        assertEquals(network.gatewayOfport(), ovsdb.getPort(gw()).orElseThrow().ofport());
        assertTrue(node.ip("-4", "addr", "show", "dev", gw()).contains("inet 10.233.1.1/24"));
    }

    @Test
    void routesFollowThePeersAndForeignRoutesAreNeverTouched() throws Exception {
        HostNetworkReconciler r = reconciler(HostNetworkReconciler.Snat.OFF);
        assertEquals(Map.of(), r.reconcile(network, List.of()));
        assertEquals("", weftRoutes());
        // A route of someone else's and a Weft route a previous run left for a node that is gone since.
        node.ip("route", "add", "192.0.2.0/24", "dev", gw(), "proto", "static");
        node.ip("route", "add", "10.233.9.0/24", "via", "10.233.9.1", "dev", gw(), "onlink", "proto", "87");

        assertEquals(Map.of(), r.reconcile(network, List.of(PEER_A, PEER_B)));
        assertEquals("10.233.2.0/24 via 10.233.2.1 dev " + gw() + " onlink \n"
                + "10.233.3.0/24 via 10.233.3.1 dev " + gw() + " onlink", weftRoutes());

        assertEquals(Map.of(), r.reconcile(network, List.of(PEER_B)));
        assertEquals("10.233.3.0/24 via 10.233.3.1 dev " + gw() + " onlink", weftRoutes());

        // A peer whose pod CIDR already has a foreign route: reported, the foreign route stays.
        node.ip("route", "add", "10.233.4.0/24", "dev", gw(), "proto", "static");
        PeerNodesChanged.Peer c = new PeerNodesChanged.Peer("node-c", List.of("10.233.4.0/24"), "192.168.90.5");
        Map<Aspect, String> problems = r.reconcile(network, List.of(PEER_B, c));
        assertEquals(List.of(Aspect.ROUTES), List.copyOf(problems.keySet()));
        assertTrue(problems.get(Aspect.ROUTES).startsWith("route to 10.233.4.0/24 exists (dev " + gw() + " proto static)"),
                problems.get(Aspect.ROUTES));

        // A peer route deleted by hand comes back.
        node.ip("route", "del", "10.233.3.0/24", "proto", "87");
        r.reconcile(network, List.of(PEER_B));
        assertEquals("10.233.3.0/24 via 10.233.3.1 dev " + gw() + " onlink", weftRoutes());

        assertEquals(Map.of(), r.reconcile(network, List.of()));
        assertEquals("", weftRoutes());
        String all = node.ip("-4", "route", "show");
        assertTrue(all.contains("192.0.2.0/24 dev " + gw() + " proto static"), all);
        assertTrue(all.contains("10.233.4.0/24 dev " + gw() + " proto static"), all);
    }

    @Test
    void theServiceCidrIsRoutedIntoTheGatewayFromTheGatewayAddressAndFollowsTheSetting() throws Exception {
        HostNetworkReconciler r = new HostNetworkReconciler(node, bridge, new HostNetworkReconciler.Settings(
                HostNetworkReconciler.Snat.MASQUERADE, List.of(), Optional.of(IpPrefix.parse("10.96.0.0/12"))));
        assertEquals(Map.of(), r.reconcile(network, List.of(PEER_A)));
        assertEquals("10.96.0.0/12 via " + NodePortSteering.CLUSTER_VIP + " dev " + gw() + " src 10.233.1.1 onlink \n"
                + "10.233.2.0/24 via 10.233.2.1 dev " + gw() + " onlink", weftRoutes());
        // The kernel sends a cluster IP into the gateway, from the gateway's address, to the switch's virtual MAC.
        String get = node.ip("-4", "route", "get", "10.96.0.10");
        assertTrue(get.contains("via " + NodePortSteering.CLUSTER_VIP + " dev " + gw() + " src 10.233.1.1"), get);
        assertTrue(node.ip("neigh", "show", NodePortSteering.CLUSTER_VIP, "dev", gw()).contains(NodePortSteering.VIRTUAL_MAC));
        // A socket bound to another address is masqueraded to the gateway's (the reply must come back into the switch).
        assertTrue(new SnatTable(node).list().contains("ip daddr 10.96.0.0/12 masquerade"), new SnatTable(node).list());

        // Deleted by hand, or its source changed: put back.
        node.ip("route", "del", "10.96.0.0/12", "proto", "87");
        assertEquals(Map.of(), r.reconcile(network, List.of(PEER_A)));
        assertTrue(weftRoutes().startsWith("10.96.0.0/12 via " + NodePortSteering.CLUSTER_VIP), weftRoutes());
        node.ip("route", "replace", "10.96.0.0/12", "via", NodePortSteering.CLUSTER_VIP, "dev", gw(), "onlink", "proto", "87");
        assertEquals(Map.of(), r.reconcile(network, List.of(PEER_A)));
        String again = node.ip("-4", "route", "get", "10.96.0.10");
        assertTrue(again.contains("src 10.233.1.1"), again);

        // A Service CIDR overlapping a pod CIDR is refused, with the reason, and the peers are still routed.
        HostNetworkReconciler overlapping = new HostNetworkReconciler(node, bridge, new HostNetworkReconciler.Settings(
                HostNetworkReconciler.Snat.OFF, List.of(), Optional.of(IpPrefix.parse("10.233.0.0/16"))));
        Map<Aspect, String> problems = overlapping.reconcile(network, List.of(PEER_A));
        assertEquals("service CIDR 10.233.0.0/16 overlaps the pod CIDR 10.233.1.0/24; not routed", problems.get(Aspect.ROUTES));
        assertEquals("10.233.2.0/24 via 10.233.2.1 dev " + gw() + " onlink", weftRoutes());

        // The setting removed (agent restarted without it): the route goes.
        assertEquals(Map.of(), r.reconcile(network, List.of(PEER_A)));
        assertEquals(Map.of(), reconciler(HostNetworkReconciler.Snat.MASQUERADE).reconcile(network, List.of(PEER_A)));
        assertEquals("10.233.2.0/24 via 10.233.2.1 dev " + gw() + " onlink", weftRoutes());
        assertFalse(new SnatTable(node).list().contains("10.96.0.0/12"));
    }

    @Test
    void aBadServiceCidrSettingNamesTheKey() {
        assertEquals(Optional.empty(), NodeHostNetwork.serviceCidr(Optional.of(" ")));
        assertEquals(Optional.of(IpPrefix.parse("10.96.0.0/12")), NodeHostNetwork.serviceCidr(Optional.of("10.96.0.0/12")));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> NodeHostNetwork.serviceCidr(Optional.of("10.96.0.1/12")));
        assertTrue(e.getMessage().startsWith("agent.service-cidr: ") && e.getMessage().contains("did you mean 10.96.0.0/12?"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> NodeHostNetwork.serviceCidr(Optional.of("fd00::/108")));
        assertEquals("agent.service-cidr: fd00::/108 is IPv6; only an IPv4 Service CIDR is routed", e.getMessage());
    }

    @Test
    void theSnatTableIsRestoredAfterTamperingAndOthersTablesAreLeftAlone() throws Exception {
        HostNetworkReconciler r = reconciler(HostNetworkReconciler.Snat.MASQUERADE);
        SnatTable snat = new SnatTable(node);
        node.inNode("table ip someone {\n chain c {\n type filter hook forward priority 0; policy accept;\n }\n}\n", "nft", "-f", "-");
        r.reconcile(network, List.of(PEER_A));
        String installed = snat.list();
        assertTrue(installed.contains("masquerade"), installed);

        node.inNode(null, "nft", "flush", "chain", "ip", "weft", "postrouting");
        assertFalse(snat.list().contains("masquerade"));
        assertEquals(Map.of(), r.reconcile(network, List.of(PEER_A)));
        assertEquals(installed, snat.list());

        node.inNode(null, "nft", "add", "element", "ip", "weft", "cluster_cidrs", "{ 0.0.0.0/1 }");
        r.reconcile(network, List.of(PEER_A));
        assertEquals(installed, snat.list());

        node.inNode(null, "nft", "delete", "table", "ip", "weft");
        r.reconcile(network, List.of(PEER_A));
        assertEquals(installed, snat.list());

        // A new peer changes the sets; the foreign table was never touched.
        r.reconcile(network, List.of(PEER_A, PEER_B));
        assertFalse(installed.contains("10.233.3.255"), installed);
        assertTrue(snat.list().contains("10.233.3.255") || snat.list().contains("10.233.3.0/24"), snat.list());
        assertTrue(node.inNode(null, "nft", "list", "tables").contains("table ip someone"));

        // noSNAT: the agent keeps no table.
        assertEquals(Map.of(), reconciler(HostNetworkReconciler.Snat.OFF).reconcile(network, List.of(PEER_A)));
        assertEquals("", snat.list());
        assertTrue(node.inNode(null, "nft", "list", "tables").contains("table ip someone"));
    }

    @Test
    void aConflictingBridgeIsReportedWhileTheRestIsKeptUp() throws Exception {
        NodeBridge wrongType = new NodeBridge(ovsdb, new NodeBridge.Layout(bridge.layout().bridge(), "system",
                bridge.layout().gatewayName(), 2, bridge.layout().tunnelName(), "geneve"));
        HostNetworkReconciler r = new HostNetworkReconciler(node, wrongType,
                new HostNetworkReconciler.Settings(HostNetworkReconciler.Snat.UNAVAILABLE, List.of()));
        Map<Aspect, String> problems = r.reconcile(network, List.of(PEER_A));
        assertEquals(List.of(Aspect.BRIDGE, Aspect.SNAT), List.copyOf(problems.keySet()));
        assertTrue(problems.get(Aspect.BRIDGE).contains("has datapath_type netdev but agent.bridge-datapath-type is system"),
                problems.get(Aspect.BRIDGE));
        assertEquals(HostNetworkReconciler.NFT_MISSING, problems.get(Aspect.SNAT));
        assertEquals("1", node.readSysctl("net/ipv4/ip_forward"));
        assertEquals("10.233.2.0/24 via 10.233.2.1 dev " + gw() + " onlink", weftRoutes());
        assertEquals("netdev", ovs.vsctl("get", "Bridge", bridge.layout().bridge(), "datapath_type").trim().replace("\"", ""));
    }
}
