package dev.weft.agent.pipeline;

import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.openflow.FlowStats;
import dev.weft.agent.openflow.OfEndpoint;
import dev.weft.agent.testing.OvsSandbox;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.List;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pipeline on a real Open vSwitch (userspace datapath) with pods as network namespaces. */
class DatapathOvsTest {

    static Datapath.RoundStore roundIn(OvsSandbox ovs) {
        return new Datapath.RoundStore() {
            public int load() throws IOException {
                String v = ovs.vsctl("br-get-external-id", ovs.bridge, "weft-flow-round").trim();
                return v.isEmpty() ? 0 : Integer.parseInt(v);
            }

            public void save(int round) throws IOException {
                ovs.vsctl("br-set-external-id", ovs.bridge, "weft-flow-round", Integer.toString(round));
            }
        };
    }

    static Datapath startDatapath(OvsSandbox ovs) {
        Datapath dp = new Datapath(OfEndpoint.parse("unix:" + ovs.mgmtSocket()), roundIn(ovs)).start();
        await().atMost(Duration.ofSeconds(20)).until(dp::isReady);
        return dp;
    }

    static List<String> table(OvsSandbox ovs, int table) throws IOException {
        return ovs.dumpFlows("table=" + table);
    }

    @Test
    void podsForwardAcrossTheWalkthroughPipelineAndSurviveRestarts() throws Exception {
        try (OvsSandbox ovs = OvsSandbox.start();
             NetnsPod a = NetnsPod.create(ovs, "10.251.7.2/24", null, 11);
             NetnsPod b = NetnsPod.create(ovs, "10.251.7.3/24", null, 12);
             NetnsPod c = NetnsPod.create(ovs, "10.251.7.4/24", null, 13)) {
            Datapath dp = startDatapath(ovs);
            try {
                // the declared tables with their miss flows, and the Antrea walkthrough's established-traffic flow
                assertTrue(table(ovs, 90).stream().anyMatch(l -> l.contains("priority=210,ct_state=-new+est,ip actions=resubmit(,105)")),
                        () -> "table 90: " + safe(ovs, 90));
                assertTrue(table(ovs, 90).stream().anyMatch(l -> l.contains("priority=0 actions=resubmit(,100)")));
                assertTrue(table(ovs, 0).stream().anyMatch(l -> l.contains("priority=0 actions=drop")));
                assertEquals("1", ovs.vsctl("br-get-external-id", ovs.bridge, "weft-flow-round").trim());

                assertFalse(a.ping(b.ip), "no pod flows yet: no forwarding");
                dp.nodeNetworkReady(new NodeNetwork("n1", List.of("10.251.7.0/24"), List.of("10.251.7.1"), null, "gw0", 0, ""));
                dp.podAdded(a.asInterface("default", "a"));
                dp.podAdded(b.asInterface("default", "b"));
                dp.podAdded(c.asInterface("default", "c"));
                assertTrue(table(ovs, 10).stream().anyMatch(l -> l.contains("in_port=11,dl_src=" + a.mac + ",nw_src=10.251.7.2")),
                        () -> "spoof guard: " + safe(ovs, 10));
                assertTrue(table(ovs, 80).stream().anyMatch(l -> l.contains("dl_dst=" + b.mac)
                        && l.contains("load:0xc->NXM_NX_REG1[]")), () -> safe(ovs, 80));
                assertTrue(a.ping(b.ip), "a -> b");
                assertTrue(b.ping(c.ip), "b -> c");
                Process tcp = b.serve("tcp", 8080);
                Process udp = b.serve("udp", 5353);
                try {
                    assertTrue(a.talk("tcp", b.ip, 8080), "tcp a -> b");
                    assertTrue(a.talk("udp", b.ip, 5353), "udp a -> b");
                } finally {
                    tcp.destroy();
                    udp.destroy();
                }
                // counters come from the switch through our own flow-stats decoding
                List<FlowStats> stats = dp.dumpFlows(0xff);
                assertTrue(stats.stream().anyMatch(s -> s.flow().table() == 110 && s.packets() > 0), stats::toString);
                assertTrue(stats.stream().anyMatch(s -> s.flow().toString().contains("ct(table=31,zone=65520,nat)")));

                // spoofing: a packet from a with c's address is dropped by SpoofGuard
                NetnsPod.sh("ip", "-n", a.netns, "addr", "add", "10.251.7.4/32", "dev", "eth0");
                assertFalse(pingFrom(a, "10.251.7.4", b.ip), "spoofed source must be dropped");

                // Open vSwitch restarts: flows are gone, the agent notices and replays them all
                long before = dp.flowCount();
                ovs.killVswitchd();
                ovs.startVswitchd();
                await().atMost(Duration.ofSeconds(30)).until(() -> dp.replays() >= 2 && dp.isReady());
                assertEquals(before, ovs.dumpFlows().size(), "every flow replayed");
                assertTrue(a.ping(b.ip), "a -> b after ovs-vswitchd restart");

                // pod removed: its flows go, the others stay
                dp.podRemoved(c.asInterface("default", "c"));
                assertFalse(ovs.dumpFlows().stream().anyMatch(l -> l.contains("in_port=13")));
                assertTrue(a.ping(b.ip));
                // a pod whose flows the next agent run will not re-add (deleted while the agent was down)
                dp.podAdded(new dev.weft.agent.node.PodInterface("default", "d", "cid-d", "eth0", "", List.of("10.251.7.9"),
                        "0a:00:00:00:00:09", "vd", "", 14));
            } catch (Throwable t) {
                dp.close();
                throw t;
            }

            // agent restart under continuous traffic: the new run (round 2) replaces the flows in place and deletes
            // the stale ones (pod d, not re-added) only at the end; the established connection never notices
            Process server = b.serve("tcp", 8081);
            Process stream = a.stream(b.ip, 8081, 8);
            try {
                Thread.sleep(1000);
                dp.close();
                Datapath dp2 = new Datapath(OfEndpoint.parse("tcp:127.0.0.1:" + ovs.openflowPort), roundIn(ovs)).start();
                try {
                    await().atMost(Duration.ofSeconds(20)).until(dp2::isReady);
                    assertEquals(2, dp2.round());
                    assertEquals("2", ovs.vsctl("br-get-external-id", ovs.bridge, "weft-flow-round").trim());
                    assertTrue(ovs.dumpFlows().stream().anyMatch(l -> l.contains("in_port=14")), "stale pod d still there");
                    dp2.nodeNetworkReady(new NodeNetwork("n1", List.of("10.251.7.0/24"), List.of("10.251.7.1"), null, "gw0", 0, ""));
                    dp2.podAdded(a.asInterface("default", "a"));
                    dp2.podAdded(b.asInterface("default", "b"));
                    dp2.finishRestart();
                    assertFalse(ovs.dumpFlows().stream().anyMatch(l -> l.contains("in_port=14")), "d was not re-added: gone");
                    assertTrue(ovs.dumpFlows().stream().anyMatch(l -> l.contains("in_port=11")), "a re-added in round 2");
                    assertEquals(dp2.flowCount(), ovs.dumpFlows().size());
                    assertTrue(stream.waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
                    String out = new String(stream.getInputStream().readAllBytes());
                    assertEquals(0, stream.exitValue(), "the established connection broke during the agent restart: " + out);
                    assertTrue(Integer.parseInt(out.trim()) > 50, out);
                } finally {
                    dp2.close();
                }
            } finally {
                stream.destroy();
                server.destroy();
            }
        }
    }

    @Test
    void aRefusedFlowIsNamedAndItsBundleLeavesNothingBehind() throws Exception {
        try (OvsSandbox ovs = OvsSandbox.start()) {
            Datapath dp = startDatapath(ovs);
            try {
                int before = ovs.dumpFlows().size();
                var good = FlowBuilder.flow(PipelineTable.DNAT, FlowPriority.NORMAL).match(m -> m.ip().nwDst("10.96.0.10")).resubmit(PipelineTable.EGRESS_RULE).build();
                // ct() without "ip" in the match: Open vSwitch refuses it
                var bad = new dev.weft.agent.openflow.FlowMod(40, 100, 0, dev.weft.agent.openflow.Match.builder().inPort(5).build(),
                        List.of(new dev.weft.agent.openflow.OfAction.Ct(false, 65520, 50, List.of())), -1);
                var e = org.junit.jupiter.api.Assertions.assertThrows(dev.weft.agent.openflow.OfException.class,
                        () -> dp.apply(99, List.of(good, bad)));
                assertTrue(e.getMessage().contains("OpenFlow error") && e.getMessage().contains("in_port=5 actions=ct(table=50,zone=65520)"),
                        e.getMessage());
                assertEquals(before, ovs.dumpFlows().size(), "atomic: the good flow of the refused bundle is not installed");
                dp.apply(99, List.of(good));
                assertEquals(before + 1, ovs.dumpFlows().size(), "the store was left as it was: the good flow alone goes in");
            } finally {
                dp.close();
            }
        }
    }

    @Test
    void peerNodeRoutesGoThroughTheTunnel() throws Exception {
        try (OvsSandbox ovs = OvsSandbox.start()) {
            String tun = "wtn" + Long.toString(System.nanoTime() % 1_000_000, 36);
            ovs.vsctl("add-port", ovs.bridge, tun, "--", "set", "interface", tun, "type=geneve", "options:remote_ip=flow",
                    "options:key=flow", "ofport_request=30");
            Datapath dp = startDatapath(ovs);
            try {
                dp.nodeNetworkReady(new NodeNetwork("n1", List.of("10.251.7.0/24"), List.of("10.251.7.1"), "0a:00:00:00:00:01",
                        "gw0", 0, "192.168.77.1"));
                var peers = PeerNodeWatcher.peers(List.of(
                        node("n1", "10.251.7.0/24", "192.168.77.1"), node("n2", "10.251.8.0/24", "192.168.77.2"),
                        node("n3", null, "192.168.77.3")), "n1");
                assertEquals(List.of(new PeerNodesFeature.PeerNode("n2", List.of("10.251.8.0/24"), "192.168.77.2")), peers);
                dp.feature(PeerNodesFeature.class).update(30, peers);
                List<String> l3 = table(ovs, 70);
                assertTrue(l3.stream().anyMatch(l -> l.contains("nw_dst=10.251.8.0/24") && l.contains("192.168.77.2->tun_dst")
                        && l.contains("aa:bb:cc:dd:ee:ff->eth_dst") && l.contains("dec_ttl")), l3::toString);
                assertTrue(table(ovs, 0).stream().anyMatch(l -> l.contains("in_port=30") && l.contains("load:0x3->NXM_NX_REG0[0..3]")));
                assertTrue(table(ovs, 80).stream().anyMatch(l -> l.contains("dl_dst=aa:bb:cc:dd:ee:ff") && l.contains("load:0x1e->NXM_NX_REG1[]")));
                dp.feature(PeerNodesFeature.class).update(30, List.of());
                assertFalse(table(ovs, 70).stream().anyMatch(l -> l.contains("tun_dst")), "peer gone: route gone");
            } finally {
                dp.close();
            }
        }
    }

    static io.fabric8.kubernetes.api.model.Node node(String name, String cidr, String ip) {
        var b = new io.fabric8.kubernetes.api.model.NodeBuilder().withNewMetadata().withName(name).endMetadata()
                .withNewSpec().withPodCIDRs(cidr == null ? List.of() : List.of(cidr)).endSpec()
                .withNewStatus().addNewAddress().withType("InternalIP").withAddress(ip).endAddress().endStatus();
        return b.build();
    }

    private static boolean pingFrom(NetnsPod p, String src, String dst) {
        try {
            NetnsPod.sh("ip", "netns", "exec", p.netns, "ping", "-c", "1", "-W", "1", "-I", src, dst);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static String safe(OvsSandbox ovs, int table) {
        try {
            return String.join("\n", table(ovs, table));
        } catch (IOException e) {
            return e.toString();
        }
    }
}
