package dev.weft.policy;

import dev.weft.proto.controlplane.v1.ControlPlaneGrpc;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.WatchPoliciesRequest;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import org.eclipse.microprofile.config.inject.ConfigProperty;
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
import java.util.concurrent.TimeUnit;

import static dev.weft.policy.K8s.*;
import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.allOf;
import static org.hamcrest.Matchers.containsString;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * policy-service starts while nothing listens at the API server address: liveness UP, readiness DOWN naming each
 * informer and the reason, an agent's stream waits (no snapshot from an empty view). When the API server comes up at
 * that address the informers list, readiness turns UP and the waiting agent gets its snapshot with the policy.
 */
@QuarkusTest
@TestProfile(ApiServerOutageTest.ApiServerNotYetThere.class)
class ApiServerOutageTest {
    /** Shared through a system property: the profile is loaded by Quarkus's class loader, the test by JUnit's. */
    static final int API_PORT = Integer.parseInt(System.getProperties()
            .computeIfAbsent("weft.test.policy-api-port", k -> String.valueOf(freePort())).toString());
    private static KubernetesMockServer apiServer;

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    public static class ApiServerNotYetThere implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of(
                    "quarkus.kubernetes-client.api-server-url", "http://127.0.0.1:" + API_PORT,
                    "quarkus.kubernetes-client.devservices.enabled", "false",
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
    void startsWithoutTheApiServerAndRecoversWhenItComes() throws Exception {
        given().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> given().get("/q/health/ready").then().statusCode(503)
                .body("checks.find { it.name == 'informers-synced' }.data.reason", allOf(
                        containsString("Pod: Kubernetes API unreachable"),
                        containsString("NetworkPolicy: Kubernetes API unreachable"))));
        given().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));

        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        try {
            ControlPlaneStreamTest.GrpcAgent agent = new ControlPlaneStreamTest.GrpcAgent();
            ControlPlaneGrpc.newStub(channel).watchPolicies(
                    WatchPoliciesRequest.newBuilder().setNodeName("node-1").setAgentId("outage-test").build(), agent);
            // The stream is open but gets no snapshot while the informers have not listed: readiness is still DOWN
            // here, and the agent has seen nothing.
            given().get("/q/health/ready").then().statusCode(503);
            synchronized (agent.view) {
                assertTrue(agent.view.log.isEmpty(), agent.view.log.toString());
            }

            apiServer = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                    new KubernetesCrudDispatcher(List.of()), false);
            apiServer.init(InetAddress.getLoopbackAddress(), API_PORT);
            try (KubernetesClient k8s = apiServer.createClient()) {
                k8s.resource(namespace("outage", "")).create();
                k8s.resource(pod("outage", "web-1", "app=web", "node-1", "10.10.1.7")).create();
                k8s.resource(ingressPolicy("outage", "web", sel("app=web"), List.of(), List.of())).create();
                await().atMost(Duration.ofSeconds(60)).untilAsserted(() ->
                        given().get("/q/health/ready").then().statusCode(200).body("status", equalTo("UP")));
                await().atMost(Duration.ofSeconds(20)).until(() -> agent.view.synced || agent.error != null);
                assertNull(agent.error);
                await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
                    synchronized (agent.view) {
                        assertEquals(1, agent.view.policies.size(), "the agent gets the policy once the service has listed");
                        List<PolicyEvent.Type> types = agent.view.log.stream().map(PolicyEvent::getType).toList();
                        assertEquals(1, types.stream().filter(t -> t == PolicyEvent.Type.SYNC_COMPLETE).count(), types.toString());
                    }
                });
            }
            given().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));
            agent.call.cancel("test ends", null);
        } finally {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
