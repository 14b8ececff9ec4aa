package dev.weft.ipam;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The service starts while nothing listens at the API server address: liveness UP, readiness DOWN naming the reason.
 * Then the API server comes up at that address, and the service recovers by itself: informer synced, ready, leader
 * elected, a new Node gets its pod CIDRs.
 */
@QuarkusTest
@TestProfile(ApiServerOutageTest.ApiServerNotYetThere.class)
class ApiServerOutageTest {
    /**
     * A loopback port that nothing listens on when the application starts. Kept in a system property: the profile is
     * loaded by Quarkus's class loader and the test by JUnit's, and both must agree on it.
     */
    static final int API_PORT = Integer.parseInt(System.getProperties()
            .computeIfAbsent("weft.test.ipam-api-port", k -> String.valueOf(freePort())).toString());
    private static KubernetesMockServer apiServer;

    public static class ApiServerNotYetThere implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of(
                    "quarkus.kubernetes-client.api-server-url", "http://127.0.0.1:" + API_PORT,
                    "quarkus.kubernetes-client.devservices.enabled", "false",
                    // reconnect quickly once the API server is there (the backoff doubles from this)
                    "quarkus.kubernetes-client.watch-reconnect-interval", "PT0.2S",
                    "quarkus.kubernetes-client.request-timeout", "PT2S",
                    "quarkus.kubernetes-client.request-retry-backoff-limit", "1");
        }
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @AfterAll
    static void stopApiServer() {
        if (apiServer != null) {
            apiServer.destroy();
        }
    }

    @Test
    void startsWithoutTheApiServerAndRecoversWhenItComes() {
        given().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));
        // The informer's first list was refused: readiness DOWN, and it says why.
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> given().get("/q/health/ready").then().statusCode(503)
                .body("checks.find { it.name == 'node-informer-synced' }.data.reason",
                        containsString("Kubernetes API unreachable")));
        given().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));

        apiServer = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(List.of()), false);
        apiServer.init(InetAddress.getLoopbackAddress(), API_PORT);
        try (KubernetesClient k8s = apiServer.createClient()) {
            String node = TestNodes.unique("after-outage");
            TestNodes.create(k8s, node);
            await().atMost(Duration.ofSeconds(60)).untilAsserted(() ->
                    given().get("/q/health/ready").then().statusCode(200).body("status", equalTo("UP")));
            // Leader election ran against the returned API and the leader allocates.
            await().atMost(Duration.ofSeconds(60)).untilAsserted(() ->
                    assertEquals(2, TestNodes.podCidrs(k8s, node).size(), "IPv4 and IPv6 pod CIDRs of " + node));
            given().get("/q/health/ready").then().statusCode(200)
                    .body("checks.find { it.name == 'node-informer-synced' }.data.leader", equalTo(true));
            given().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));
        }
    }
}
