package dev.weft.agent.pipeline;

import dev.weft.agent.node.NodeNetwork;
import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.openflow.OfEndpoint;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Set;

import static dev.weft.agent.pipeline.FlowBuilder.flow;
import static dev.weft.agent.pipeline.FlowPriority.NORMAL;
import static dev.weft.agent.pipeline.PipelineFields.CT_ZONE;
import static dev.weft.agent.pipeline.PipelineTable.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The datapath's feature registry and fan-out, on a datapath that is not connected (its store is the desired state,
 * what a connection would install).
 */
class PipelineFeaturesTest {

    final Datapath dp = new Datapath(OfEndpoint.parse("unix:/nonexistent/weft-test.mgmt"), new Datapath.RoundStore() {
        public int load() {
            return 0;
        }

        public void save(int round) {
        }
    });

    @AfterEach
    void close() {
        dp.close();
    }

    static PodInterface pod(String name, String ip, int ofport) {
        return new PodInterface("default", name, "cid", "eth0", "", List.of(ip), "0a:00:00:00:00:0" + ofport, "v" + name, "", ofport);
    }

    List<String> flowsOf(long owner) {
        return Arrays.stream(dp.storedFlows(owner)).map(FlowMod::decodeAdd).map(FlowMod::toString).sorted().toList();
    }

    @Test
    void theNodeLevelFeaturesAreRegisteredAndTheDefaultsStoredBeforeConnecting() {
        assertEquals(List.of("PipelineDefaults", "Gateway", "PodConnectivity", "PeerNodes"),
                dp.features().stream().map(f -> f.declaration().name()).toList());
        assertEquals(PipelineTable.values().length + 7, dp.storedFlows(PipelineDefaultsFeature.OWNER).length);
        assertTrue(flowsOf(PipelineDefaultsFeature.OWNER).contains("table=30, priority=200,ip actions=ct(table=31,zone=65520,nat)"));
        assertThrows(IllegalArgumentException.class, () -> dp.register(new PodConnectivityFeature(dp)), "one of each");
    }

    @Test
    void aFeatureCannotPutFlowsOutsideItsTablesOrCategories() {
        PipelineFeature gateway = dp.feature(GatewayFeature.class);
        FlowMod inOutput = flow(OUTPUT, NORMAL).cookie(Cookie.Category.GATEWAY, 2).match(m -> m.ip()).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> dp.apply(gateway, 9, List.of(inOutput)));
        assertEquals("Gateway (tables [0, 10, 70, 80, 90], cookie categories [GATEWAY]) has no flow in table 110 with cookie"
                + " category GATEWAY: table=110, priority=200,ip actions=drop", e.getMessage());
        FlowMod podCookie = flow(CLASSIFICATION, NORMAL).cookie(Cookie.Category.POD, 2).match(m -> m.inPort(2)).build();
        e = assertThrows(IllegalArgumentException.class, () -> dp.apply(gateway, 9, List.of(podCookie)));
        assertTrue(e.getMessage().contains("has no flow in table 0 with cookie category POD"), e.getMessage());
        assertEquals(0, dp.storedFlows(9).length, "nothing of a refused change is kept");
    }

    @Test
    void podFlowsFollowTheNodeNetworkWhicheverComesFirst() {
        PodInterface a = pod("a", "10.10.1.6", 6);
        dp.podAdded(a);
        long owner = PodConnectivityFeature.owner(a);
        assertTrue(flowsOf(owner).stream().noneMatch(f -> f.startsWith("table=70")), "no gateway MAC yet: no route from the tunnel");
        NodeNetwork n = new NodeNetwork("n1", List.of("10.10.1.0/24"), List.of("10.10.1.1"), "0a:00:00:00:01:01", "gw0", 2, "");
        dp.nodeNetworkReady(n);
        List<String> after = flowsOf(owner);
        PodInterface b = pod("b", "10.10.1.7", 7);
        dp.podAdded(b);
        dp.podRemoved(b);
        assertEquals(PodConnectivityFeature.flows(a, n).stream().map(FlowMod::toString).sorted().toList(), after,
                "the same flows as a pod added after the node network");
        assertTrue(after.stream().anyMatch(f -> f.startsWith("table=70, priority=200,ip,nw_dst=10.10.1.6,reg0=0x3/0xf")), after::toString);
        assertEquals(0, dp.storedFlows(PodConnectivityFeature.owner(b)).length);
        assertEquals(Set.of("default/a"), dp.localPods().keySet());
    }

    @Test
    void peerRoutesWaitForTheGatewayMac() {
        PeerNodesFeature peers = dp.feature(PeerNodesFeature.class);
        peers.update(30, List.of(new PeerNodesFeature.PeerNode("n2", List.of("10.10.2.0/24"), "192.168.77.2")));
        assertEquals(0, dp.storedFlows(PeerNodesFeature.OWNER).length);
        dp.nodeNetworkReady(new NodeNetwork("n1", List.of("10.10.1.0/24"), List.of("10.10.1.1"), "0a:00:00:00:01:01", "gw0", 2, ""));
        assertTrue(flowsOf(PeerNodesFeature.OWNER).stream().anyMatch(f -> f.contains("nw_dst=10.10.2.0/24")
                && f.contains("192.168.77.2->tun_dst")), () -> flowsOf(PeerNodesFeature.OWNER).toString());
        peers.update(0, List.of());
        assertEquals(0, dp.storedFlows(PeerNodesFeature.OWNER).length);
    }

    @Test
    void aPodWithoutAnOpenFlowPortIsRefusedAndNotRecorded() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> dp.podAdded(pod("x", "10.10.1.9", 0)));
        assertEquals("pod default/x has no OpenFlow port (0)", e.getMessage());
        assertTrue(dp.localPods().isEmpty());
    }

    @Test
    void ctReadsLikeTheFlow() {
        FlowMod f = flow(CONNTRACK_COMMIT, NORMAL).match(m -> m.ip()).ct(ct -> ct.commit().zone(CT_ZONE)).resubmit(OUTPUT).build();
        assertEquals("table=105, priority=200,ip actions=ct(commit,zone=65520),resubmit(,110)", f.toString());
        assertThrows(IllegalArgumentException.class, () -> flow(CONNTRACK_ZONE, NORMAL).ct(ct -> ct.table(CONNTRACK_STATE)));
    }
}
