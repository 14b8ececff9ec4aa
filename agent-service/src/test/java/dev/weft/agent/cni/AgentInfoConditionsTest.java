package dev.weft.agent.cni;

import dev.weft.agent.info.AgentInfoPublisher;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * WeftAgentInfo's conditions follow a change at once, not at the next refresh: with an hour between refreshes, the
 * object shows ovsdb-server frozen (SIGSTOP) and back (SIGCONT) within seconds, because the agent looks at its
 * conditions every {@code agent.info.condition-check} and writes when one changed.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@QuarkusTestResource(value = CniTestEnvironment.class, restrictToAnnotatedClass = true)
@TestProfile(AgentInfoConditionsTest.HourlyRefresh.class)
class AgentInfoConditionsTest {

    public static class HourlyRefresh implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("agent.info.interval", "1h", "agent.info.condition-check", "500ms");
        }
    }

    @Inject
    KubernetesClient kubernetes;

    @Inject
    CniAgent agent;

    @SuppressWarnings("unchecked")
    private String status(String type) {
        GenericKubernetesResource o = kubernetes.genericKubernetesResources(AgentInfoPublisher.CONTEXT).withName("test-node").get();
        if (o == null) {
            return "absent";
        }
        List<Map<String, Object>> conditions = (List<Map<String, Object>>) o.getAdditionalProperties().get("agentConditions");
        return (String) conditions.stream().filter(c -> type.equals(c.get("type"))).findFirst().orElseThrow().get("status");
    }

    @Test
    void aConditionThatChangesIsWrittenWithoutWaitingForTheRefresh() throws Exception {
        await().atMost(Duration.ofSeconds(30)).until(() -> agent.notReadyReason() == null);
        // Written at start, possibly before Open vSwitch was connected: the change to True is written on its own.
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            assertEquals("True", status("OVSDBConnectionUp"));
            assertEquals("True", status("OpenflowConnectionUp"));
        });
        long ovsdbPid = Long.parseLong(Files.readString(CniTestEnvironment.ovs.dir.resolve("ovsdb-server.pid")).trim());
        PodNetns.run("kill", "-STOP", Long.toString(ovsdbPid));
        try {
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertEquals("False", status("OVSDBConnectionUp")));
        } finally {
            PodNetns.run("kill", "-CONT", Long.toString(ovsdbPid));
        }
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertEquals("True", status("OVSDBConnectionUp")));
    }
}
