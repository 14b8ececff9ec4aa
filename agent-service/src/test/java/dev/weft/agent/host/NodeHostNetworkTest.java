package dev.weft.agent.host;

import dev.weft.agent.cni.CniTestEnvironment;
import dev.weft.agent.ovsdb.OvsBridge;
import dev.weft.agent.ovsdb.OvsdbClient;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Optional;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole agent on a node with Open vSwitch and nothing else: it creates the bridge, reports node-network ready,
 * routes the peers the Node informer sees (through PeerNodeWatcher's PeerNodesChanged event) and its timer restores
 * what someone removes.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@QuarkusTestResource(value = HostTestEnvironment.class, restrictToAnnotatedClass = true)
class NodeHostNetworkTest {

    @Inject
    NodeHostNetwork host;

    @Inject
    NodeBridge bridge;

    @Inject
    OvsdbClient ovsdb;

    @Inject
    KubernetesClient kubernetes;

    HostCommands node() {
        return new HostCommands(Optional.of(CniTestEnvironment.ovs.netns));
    }

    @BeforeEach
    void nodeNetworkIsUp() {
        await().atMost(Duration.ofSeconds(60)).until(() -> host.notReadyReason() == null);
    }

    private static Node node(String name, String podCidr, String ip) {
        return new NodeBuilder().withNewMetadata().withName(name).endMetadata()
                .withNewSpec().withPodCIDR(podCidr).addToPodCIDRs(podCidr).endSpec()
                .withNewStatus().addNewAddress().withType("InternalIP").withAddress(ip).endAddress().endStatus().build();
    }

    @Test
    void theAgentCreatesTheBridgeAndReportsNodeNetworkReady() throws Exception {
        OvsBridge b = ovsdb.getBridge(bridge.layout().bridge()).orElseThrow();
        assertEquals("netdev", b.datapathType());
        assertEquals("secure", b.failMode());
        assertEquals("weft-agent", b.externalIds().get(NodeBridge.OWNER_KEY));
        assertEquals("weft-gateway", ovsdb.getPort("gw0").orElseThrow().externalIds().get(NodeBridge.OWNER_KEY));
        assertEquals("weft-tunnel", ovsdb.getPort("weft-tun0").orElseThrow().externalIds().get(NodeBridge.OWNER_KEY));
        given().get("/q/health/ready").then()
                .body("checks.find { it.name == 'node-network' }.status", equalTo("UP"))
                .body("checks.find { it.name == 'node-network' }.data.snat", equalTo("ok"));
        assertEquals("1", node().readSysctl("net/ipv4/ip_forward"));
        assertTrue(new SnatTable(node()).list().contains("elements = { 10.244.0.0/16 }"));
    }

    @Test
    void peerRoutesFollowTheNodesAndTheTimerRestoresTheTable() throws Exception {
        kubernetes.nodes().resource(node("peer-1", "10.244.8.0/24", "192.168.95.3")).create();
        kubernetes.nodes().resource(node("peer-2", "10.244.9.0/24", "192.168.95.4")).create();
        String proto = Integer.toString(PeerRoutes.PROTOCOL);
        await().atMost(Duration.ofSeconds(30)).until(() -> node().ip("-4", "route", "show", "proto", proto)
                .contains("10.244.9.0/24 via 10.244.9.1 dev gw0 onlink"));
        assertTrue(node().ip("-4", "route", "show", "proto", proto).contains("10.244.8.0/24 via 10.244.8.1 dev gw0 onlink"));
        assertFalse(new SnatTable(node()).list().contains("192.168.95."), "node IPs are not exempt from masquerading");

        kubernetes.nodes().withName("peer-1").delete();
        await().atMost(Duration.ofSeconds(30)).until(() -> !node().ip("-4", "route", "show", "proto", proto).contains("10.244.8.0/24"));

        node().inNode(null, "nft", "delete", "table", "ip", "weft");
        await().atMost(Duration.ofSeconds(30)).until(() -> new SnatTable(node()).list().contains("masquerade"));
        kubernetes.nodes().withName("peer-2").delete();
    }

    @Test
    void aConflictIsAReadinessReason() throws Exception {
        CniTestEnvironment.ovs.vsctl("set", "Port", "weft-tun0", "external_ids:weft.dev/owner=someone");
        try {
            await().atMost(Duration.ofSeconds(30)).until(() -> host.notReadyReason() != null);
            given().get("/q/health/ready").then().statusCode(503)
                    .body("checks.find { it.name == 'node-network' }.data.tunnel", containsString("belongs to someone"));
        } finally {
            CniTestEnvironment.ovs.vsctl("set", "Port", "weft-tun0", "external_ids:weft.dev/owner=weft-tunnel");
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> host.notReadyReason() == null);
    }
}
