package dev.weft.agent.cni;

import dev.weft.agent.info.AgentInfoPublisher;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The agent's WeftAgentInfo on the Kubernetes test server, with the running agent on real Open vSwitch: it appears
 * with the node's subnet, OVS version and flows per table, and its OVSDBConnectionUp condition goes False with a
 * reason while ovsdb-server is frozen (SIGSTOP), True again after SIGCONT.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@QuarkusTestResource(value = CniTestEnvironment.class, restrictToAnnotatedClass = true)
class AgentInfoTest {

    @Inject
    KubernetesClient kubernetes;

    @Inject
    CniAgent agent;

    private GenericKubernetesResource info() {
        return kubernetes.genericKubernetesResources(AgentInfoPublisher.CONTEXT).withName("test-node").get();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> condition(GenericKubernetesResource o, String type) {
        List<Map<String, Object>> conditions = (List<Map<String, Object>>) o.getAdditionalProperties().get("agentConditions");
        return conditions.stream().filter(c -> type.equals(c.get("type"))).findFirst().orElseThrow();
    }

    @Test
    @SuppressWarnings("unchecked")
    void infoAppearsAndItsConditionsFollowOvsdb() throws Exception {
        await().atMost(Duration.ofSeconds(30)).until(() -> agent.notReadyReason() == null);
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            GenericKubernetesResource o = info();
            assertTrue(o != null, "WeftAgentInfo test-node written");
            assertEquals(List.of("10.244.7.0/24"), o.getAdditionalProperties().get("nodeSubnets"));
            Map<String, Object> ovs = (Map<String, Object>) o.getAdditionalProperties().get("ovsInfo");
            // The sandbox's ovsdb-server carries no ovs_version (ovs-vsctl init is not run there): the key only.
            assertTrue(ovs.containsKey("version") && ((String) ovs.get("bridgeName")).startsWith("br"), ovs.toString());
            Map<String, Object> flows = (Map<String, Object>) ovs.get("flowTable");
            assertTrue(((Number) flows.get("Classification")).longValue() > 0, flows.toString());
            for (String type : List.of("AgentHealthy", "OVSDBConnectionUp", "OpenflowConnectionUp")) {
                assertEquals("True", condition(o, type).get("status"), type + " in " + o.getAdditionalProperties());
            }
        });

        long ovsdbPid = Long.parseLong(Files.readString(CniTestEnvironment.ovs.dir.resolve("ovsdb-server.pid")).trim());
        PodNetns.run("kill", "-STOP", Long.toString(ovsdbPid));
        try {
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                Map<String, Object> c = condition(info(), "OVSDBConnectionUp");
                assertEquals("False", c.get("status"), c.toString());
                assertEquals("Unreachable", c.get("reason"));
            });
        } finally {
            PodNetns.run("kill", "-CONT", Long.toString(ovsdbPid));
        }
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() ->
                assertEquals("True", condition(info(), "OVSDBConnectionUp").get("status")));
    }
}
