package dev.weft.agent.host;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The SNAT table and forwarding with real packets, without Open vSwitch: a "pod" namespace behind a veth whose node
 * end stands in for the gateway, a "node" namespace with the Weft table and forwarding on, an "outside" host on the
 * node's uplink with no route to any pod CIDR (like the internet), and a "peer" node that routes the pod CIDRs (as the
 * tunnel would). The outside and the peer count, with nftables rules of their own, the source addresses they see.
 */
class SnatTrafficTest {

    static final String POD_IP = "10.234.5.10";
    static final String NODE_UPLINK_IP = "192.168.91.2";
    static final String OUTSIDE_IP = "192.168.91.100";
    static final String PEER_NODE_IP = "192.168.92.3";
    /** The node's address on its link to the peer (what the peer sees of masqueraded traffic). */
    static final String NODE_PEER_LINK_IP = "192.168.92.2";
    static final String PEER_POD_IP = "10.234.6.10";
    static final SnatTable.Rules RULES = new SnatTable.Rules(List.of("10.234.5.0/24"),
            List.of("10.234.5.0/24", "10.234.6.0/24"));

    TestNetns pod;
    TestNetns node;
    TestNetns outside;
    TestNetns peer;
    SnatTable snat;

    @BeforeEach
    void topology() throws Exception {
        TestNetns.requireRootAndNft();
        List<TestNetns> made = new ArrayList<>();
        try {
            pod = track(made, TestNetns.create("wsp"));
            node = track(made, TestNetns.create("wsn"));
            outside = track(made, TestNetns.create("wso"));
            peer = track(made, TestNetns.create("wsr"));
        } catch (Exception e) {
            made.forEach(TestNetns::close);
            throw e;
        }
        String s = TestNetns.suffix();
        link(pod, "eth0", node, "gw" + s);
        link(node, "ul" + s, outside, "eth0");
        link(node, "pn" + s, peer, "eth0");
        pod.exec("ip", "addr", "add", POD_IP + "/24", "dev", "eth0");
        pod.exec("ip", "route", "add", "default", "via", "10.234.5.1");
        node.exec("ip", "addr", "add", "10.234.5.1/24", "dev", "gw" + s);
        node.exec("ip", "addr", "add", NODE_UPLINK_IP + "/24", "dev", "ul" + s);
        node.exec("ip", "addr", "add", NODE_PEER_LINK_IP + "/24", "dev", "pn" + s);
        node.exec("ip", "route", "add", "10.234.6.0/24", "via", PEER_NODE_IP);
        outside.exec("ip", "addr", "add", OUTSIDE_IP + "/24", "dev", "eth0");
        peer.exec("ip", "addr", "add", PEER_NODE_IP + "/24", "dev", "eth0");
        peer.exec("ip", "addr", "add", PEER_POD_IP + "/32", "dev", "lo");
        peer.exec("ip", "route", "add", "10.234.5.0/24", "via", NODE_PEER_LINK_IP);
        for (TestNetns counting : List.of(outside, peer)) {
            counting.sh("nft -f - <<'EOF'\n" + probeTable() + "EOF\n");
        }
        HostCommands nodeCommands = new HostCommands(Optional.of(node.name));
        nodeCommands.writeSysctl(HostNetworkReconciler.IP_FORWARD, "1");
        snat = new SnatTable(nodeCommands);
    }

    private static TestNetns track(List<TestNetns> made, TestNetns ns) {
        made.add(ns);
        return ns;
    }

    @AfterEach
    void cleanUp() {
        for (TestNetns ns : new TestNetns[]{pod, node, outside, peer}) {
            if (ns != null) {
                ns.close();
            }
        }
    }

    private static void link(TestNetns a, String aName, TestNetns b, String bName) throws Exception {
        HostCommands.run(List.of("ip", "link", "add", aName, "netns", a.name, "type", "veth", "peer", "name", bName,
                "netns", b.name), null);
        a.exec("ip", "link", "set", aName, "up");
        b.exec("ip", "link", "set", bName, "up");
    }

    /** Counts packets per source (node uplink IP, node's peer link IP, pod IP) and protocol, at the receiving host. */
    private static String probeTable() {
        StringBuilder t = new StringBuilder("table ip probe {\n chain input {\n  type filter hook input priority 0; policy accept;\n");
        for (String src : List.of(NODE_UPLINK_IP, NODE_PEER_LINK_IP, POD_IP)) {
            t.append("  ip saddr ").append(src).append(" ip protocol icmp counter\n");
            t.append("  ip saddr ").append(src).append(" tcp dport 80 counter\n");
            t.append("  ip saddr ").append(src).append(" udp dport 80 counter\n");
        }
        return t.append(" }\n}\n").toString();
    }

    /** Packets {@code at} received from {@code source} with protocol icmp / tcp / udp. */
    private static long seen(TestNetns at, String source, String protocol) throws Exception {
        JsonNode rules = new ObjectMapper().readTree(at.exec("nft", "-j", "list", "chain", "ip", "probe", "input")).path("nftables");
        for (JsonNode item : rules) {
            JsonNode expr = item.path("rule").path("expr");
            if (expr.isMissingNode()) {
                continue;
            }
            String text = expr.toString();
            boolean proto = switch (protocol) {
                case "icmp" -> text.contains("\"icmp\"");
                case "tcp" -> text.contains("\"tcp\"");
                default -> text.contains("\"udp\"");
            };
            if (text.contains("\"" + source + "\"") && proto) {
                for (JsonNode e : expr) {
                    if (e.has("counter")) {
                        return e.get("counter").path("packets").asLong();
                    }
                }
            }
        }
        throw new AssertionError("no probe rule for " + source + " " + protocol);
    }

    private HostCommands.Exit ping(String target) throws Exception {
        return pod.sh("ping -c 2 -i 0.2 -W 2 " + target);
    }

    @Test
    void podToOutsideIsMasqueradedToTheNodeIp() throws Exception {
        assertEquals(SnatTable.Result.INSTALLED, snat.reconcile(RULES));

        HostCommands.Exit ping = ping(OUTSIDE_IP);
        assertEquals(0, ping.code(), ping.output());
        assertTrue(seen(outside, NODE_UPLINK_IP, "icmp") >= 2);
        assertEquals(0, seen(outside, POD_IP, "icmp"));

        // TCP: nothing listens on port 80, so the outside host answers the SYN with a reset, which reaches the pod
        // only through the NAT mapping (the outside has no route to the pod): "refused" is the proof of the round trip.
        HostCommands.Exit tcp = pod.sh("timeout 10 bash -c 'exec 3<>/dev/tcp/" + OUTSIDE_IP + "/80'");
        assertNotEquals(0, tcp.code());
        assertTrue(tcp.output().contains("Connection refused"), tcp.output());
        assertTrue(seen(outside, NODE_UPLINK_IP, "tcp") >= 1);
        assertEquals(0, seen(outside, POD_IP, "tcp"));

        HostCommands.Exit udp = pod.sh("echo probe > /dev/udp/" + OUTSIDE_IP + "/80");
        assertEquals(0, udp.code(), udp.output());
        assertEquals(1, seen(outside, NODE_UPLINK_IP, "udp"));
        assertEquals(0, seen(outside, POD_IP, "udp"));
    }

    @Test
    void podToPodCidrsKeepsThePodSourceAndToAnotherNodeTheNodeAddress() throws Exception {
        snat.reconcile(RULES);
        HostCommands.Exit toPeerPod = ping(PEER_POD_IP);
        assertEquals(0, toPeerPod.code(), toPeerPod.output());
        assertEquals(2, seen(peer, POD_IP, "icmp"), "pod to pod: the pod's own address");
        HostCommands.Exit toPeerNode = ping(PEER_NODE_IP);
        assertEquals(0, toPeerNode.code(), toPeerNode.output());
        assertEquals(2, seen(peer, POD_IP, "icmp"), "pod to another node: not the pod's address (its reply would come back"
                + " through that node's gateway and tunnel, which never saw the request)");
        assertEquals(2, seen(peer, NODE_PEER_LINK_IP, "icmp"), "the node's address on the link towards the peer");
        HostCommands.Exit toOwnNode = ping(NODE_UPLINK_IP);
        assertEquals(0, toOwnNode.code(), toOwnNode.output());
    }

    @Test
    void tamperingLeaksThePodSourceUntilTheTableIsRestored() throws Exception {
        snat.reconcile(RULES);
        node.exec("nft", "flush", "chain", "ip", "weft", "postrouting");
        // Without the rule the outside sees the pod's address (and cannot answer it).
        HostCommands.Exit leaked = ping(OUTSIDE_IP);
        assertNotEquals(0, leaked.code(), leaked.output());
        assertEquals(2, seen(outside, POD_IP, "icmp"));

        assertEquals(SnatTable.Result.RESTORED, snat.reconcile(RULES));
        HostCommands.Exit restored = ping(OUTSIDE_IP);
        assertEquals(0, restored.code(), restored.output());
        assertTrue(seen(outside, NODE_UPLINK_IP, "icmp") >= 2);
        assertEquals(2, seen(outside, POD_IP, "icmp"));
        assertEquals(SnatTable.Result.UNCHANGED, snat.reconcile(RULES));
    }

    @Test
    void noSnatRemovesTheTableAndPodsKeepTheirSource() throws Exception {
        snat.reconcile(RULES);
        snat.remove();
        assertEquals("", snat.list());
        ping(OUTSIDE_IP);
        assertEquals(2, seen(outside, POD_IP, "icmp"));
        assertEquals(0, seen(outside, NODE_UPLINK_IP, "icmp"));
    }
}
