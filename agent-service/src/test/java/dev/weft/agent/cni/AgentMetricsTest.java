package dev.weft.agent.cni;

import dev.weft.proto.cni.v1.CniRequest;
import dev.weft.proto.cni.v1.CniResponse;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import io.restassured.RestAssured;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The agent's /q/metrics as a scraper sees it (real HTTP), against the running agent on real Open vSwitch with
 * network namespaces as pods: connection gauges, flows per table, local pods and CNI requests move as pods come and go.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@QuarkusTestResource(value = CniTestEnvironment.class, restrictToAnnotatedClass = true)
class AgentMetricsTest {

    @Inject
    CniAgent agent;

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    static CniClient client;

    @BeforeAll
    static void connect() {
        client = new CniClient(CniTestEnvironment.dir.resolve("cni.sock"));
    }

    @AfterAll
    static void disconnect() throws InterruptedException {
        client.close();
    }

    @BeforeEach
    void nodeNetworkIsUp() {
        await().atMost(Duration.ofSeconds(30)).until(() -> agent.notReadyReason() == null);
    }

    /** The one sample of {@code name} whose labels contain every fragment, or 0 when there is none yet. */
    static double sample(String scrape, String name, String... labelFragments) {
        Matcher m = Pattern.compile("^" + Pattern.quote(name) + "(\\{[^}]*})? ([-+0-9.eE]+|NaN)$", Pattern.MULTILINE)
                .matcher(scrape);
        while (m.find()) {
            String labels = m.group(1) == null ? "" : m.group(1);
            if (Arrays.stream(labelFragments).allMatch(labels::contains)) {
                return Double.parseDouble(m.group(2));
            }
        }
        return 0;
    }

    private String scrape() {
        return RestAssured.given().port(port).get("/q/metrics").then().statusCode(200).extract().asString();
    }

    @Test
    void metricsFollowPodsAndCniRequests() throws Exception {
        String before = scrape();
        assertEquals(1, sample(before, "weft_agent_openflow_connected"), before);
        assertEquals(1, sample(before, "weft_agent_ovsdb_connected"), before);
        assertTrue(sample(before, "weft_agent_flows", "table=\"Classification\"") > 0, "the gateway's flows are in");
        double pods = sample(before, "weft_agent_local_pods");
        double adds = sample(before, "weft_agent_cni_requests_seconds_count", "command=\"ADD\"", "result=\"ok\"");
        double failed = sample(before, "weft_agent_cni_requests_seconds_count", "command=\"ADD\"", "result=\"INVALID_NETWORK_CONFIG\"");
        double spoofGuard = sample(before, "weft_agent_flows", "table=\"SpoofGuard\"");
        double dels = sample(before, "weft_agent_cni_requests_seconds_count", "command=\"DEL\"", "result=\"ok\"");

        try (PodNetns pod = new PodNetns()) {
            CniRequest req = CniClient.request("ctr-metrics", pod.path(), "eth0", "default", "metrics-1", CniClient.CONFIG);
            CniResponse add = client.add(req);
            assertTrue(add.hasResult(), add.toString());
            String during = scrape();
            assertEquals(pods + 1, sample(during, "weft_agent_local_pods"));
            assertEquals(adds + 1, sample(during, "weft_agent_cni_requests_seconds_count", "command=\"ADD\"", "result=\"ok\""));
            assertTrue(sample(during, "weft_agent_flows", "table=\"SpoofGuard\"") > spoofGuard, "the pod's spoof guard flow");

            CniResponse bad = client.add(CniClient.request("ctr-metrics-bad", pod.path(), "eth0", "default",
                    "metrics-2", "{\"cniVersion\":\"1.0.0\",\"name\":\"weft\",\"type\":\"weft\",\"mtu\":\"x\"}"));
            assertTrue(bad.hasError(), bad.toString());
            String code = bad.getError().getCode().name();
            assertEquals(("INVALID_NETWORK_CONFIG".equals(code) ? failed : 0) + 1, sample(scrape(),
                    "weft_agent_cni_requests_seconds_count", "command=\"ADD\"", "result=\"" + code + "\""), code);

            client.del(req);
            String after = scrape();
            assertEquals(pods, sample(after, "weft_agent_local_pods"));
            assertEquals(dels + 1, sample(after, "weft_agent_cni_requests_seconds_count", "command=\"DEL\"", "result=\"ok\""),
                    List.of(after.lines().filter(l -> l.startsWith("weft_agent_cni")).toArray()).toString());
        }
    }
}
