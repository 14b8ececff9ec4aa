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
    void podsForwardAcrossTheSeedPipelineAndSurviveRestarts() throws Exception {
        try (OvsSandbox ovs = OvsSandbox.start();
             NetnsPod a = NetnsPod.create(ovs, "10.251.7.2/24", null, 11);
             NetnsPod b = NetnsPod.create(ovs, "10.251.7.3/24", null, 12);
             NetnsPod c = NetnsPod.create(ovs, "10.251.7.4/24", null, 13)) {
            Datapath dp = startDatapath(ovs);
            try {
                // the declared tables with their miss flows, and the seed's established-traffic flow
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
            } finally {
                dp.close();
            }

            // agent restart: the new run (round 2) replaces the flows in place, and stale ones go only at the end
            dp.close();
            Datapath dp2 = new Datapath(OfEndpoint.parse("tcp:127.0.0.1:" + ovs.openflowPort), roundIn(ovs)).start();
            try {
                await().atMost(Duration.ofSeconds(20)).until(dp2::isReady);
                assertEquals(2, dp2.round());
                assertEquals("2", ovs.vsctl("br-get-external-id", ovs.bridge, "weft-flow-round").trim());
                assertTrue(a.ping(b.ip), "old round's flows still forward");
                dp2.nodeNetworkReady(new NodeNetwork("n1", List.of("10.251.7.0/24"), List.of("10.251.7.1"), null, "gw0", 0, ""));
                dp2.podAdded(a.asInterface("default", "a"));
                assertTrue(ovs.dumpFlows().stream().anyMatch(l -> l.contains("in_port=12")), "b's old flows kept until the end");
                dp2.finishRestart();
                assertFalse(ovs.dumpFlows().stream().anyMatch(l -> l.contains("in_port=12")), "b was not re-added: gone");
                assertTrue(ovs.dumpFlows().stream().anyMatch(l -> l.contains("in_port=11")), "a re-added in round 2");
                assertEquals(dp2.flowCount(), ovs.dumpFlows().size());
            } finally {
                dp2.close();
            }
        }
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
