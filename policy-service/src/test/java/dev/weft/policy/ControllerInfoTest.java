package dev.weft.policy;

import dev.weft.policy.info.ControllerInfoPublisher;
import dev.weft.proto.controlplane.v1.ControlPlaneGrpc;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.WatchPoliciesRequest;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static dev.weft.policy.K8s.*;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The leader's WeftControllerInfo on the Kubernetes test server: it appears with the build's version and a healthy
 * condition, lists agents as their WatchPolicies streams open (real gRPC) and drops them as they close, lists an
 * agent of another replica while its forwarded reports come, and counts policies and groups as a NetworkPolicy comes. A policy's weft.dev/log annotation reaches the agents' stream.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
class ControllerInfoTest {

    @Inject
    KubernetesClient client;

    @Inject
    ControllerInfoPublisher publisher;

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    @ConfigProperty(name = "quarkus.application.version")
    String version;

    private final String suffix = UUID.randomUUID().toString().substring(0, 6);

    /** An agent's stream that only remembers the events it got. */
    static final class Stream implements ClientResponseObserver<WatchPoliciesRequest, PolicyEvent> {
        final List<PolicyEvent> events = new java.util.concurrent.CopyOnWriteArrayList<>();
        volatile ClientCallStreamObserver<WatchPoliciesRequest> call;

        @Override
        public void beforeStart(ClientCallStreamObserver<WatchPoliciesRequest> requestStream) {
            call = requestStream;
        }

        @Override
        public void onNext(PolicyEvent e) {
            events.add(e);
        }

        @Override
        public void onError(Throwable t) {
        }

        @Override
        public void onCompleted() {
        }
    }

    private GenericKubernetesResource info() {
        return client.genericKubernetesResources(ControllerInfoPublisher.CONTEXT).withName(ControllerInfoPublisher.NAME).get();
    }

    @SuppressWarnings("unchecked")
    private static List<String> agents(GenericKubernetesResource o) {
        return (List<String>) o.getAdditionalProperties().get("connectedAgents");
    }

    private static int number(GenericKubernetesResource o, String field) {
        return ((Number) o.getAdditionalProperties().get(field)).intValue();
    }

    @Test
    @SuppressWarnings("unchecked")
    void infoAppearsAndFollowsAgentsAndPolicies() throws Exception {
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            GenericKubernetesResource o = info();
            assertTrue(o != null, "WeftControllerInfo written");
            assertEquals(version, o.getAdditionalProperties().get("version"));
            Map<String, Object> healthy = ((List<Map<String, Object>>) o.getAdditionalProperties().get("controllerConditions")).getFirst();
            assertEquals("ControllerHealthy", healthy.get("type"));
            assertEquals("True", healthy.get("status"), healthy.toString());
            assertEquals("InformersSynced", healthy.get("reason"));
            assertFalse(((String) o.getAdditionalProperties().get("leaderIdentity")).isEmpty());
        });
        System.out.println("WeftControllerInfo at start: " + info().getAdditionalProperties());

        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        List<Stream> streams = new ArrayList<>();
        try {
            List<String> nodes = List.of("ci-a-" + suffix, "ci-b-" + suffix);
            for (String node : nodes) {
                Stream s = new Stream();
                ControlPlaneGrpc.newStub(channel).watchPolicies(
                        WatchPoliciesRequest.newBuilder().setNodeName(node).setAgentId("test-" + node).build(), s);
                streams.add(s);
            }
            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertTrue(agents(info()).containsAll(nodes),
                    "both agents listed: " + info().getAdditionalProperties()));
            assertEquals(agents(info()).size(), number(info(), "connectedAgentNum"));

            // A logged policy: counted, and its annotation travels to the agent on the policy's node.
            String ns = "ci-" + suffix;
            client.resource(namespace(ns, "team=ci")).create();
            client.resource(pod(ns, "web", "app=web", nodes.getFirst(), "10.9.1.1")).create();
            client.resource(pod(ns, "client", "app=client", nodes.get(1), "10.9.2.1")).create();
            NetworkPolicy np = ingressPolicy(ns, "web", sel("app=web"), List.of(podPeer(sel("app=client"))),
                    List.of(port("TCP", 80, null)));
            np.getMetadata().setAnnotations(Map.of("weft.dev/log", "true"));
            String uid = client.resource(np).create().getMetadata().getUid();
            int policiesBefore = 0;
            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
                GenericKubernetesResource o = info();
                assertTrue(number(o, "networkPolicyNum") > policiesBefore, o.getAdditionalProperties().toString());
                assertTrue(number(o, "appliedToGroupNum") >= 1 && number(o, "addressGroupNum") >= 1,
                        o.getAdditionalProperties().toString());
            });
            await().atMost(Duration.ofSeconds(20)).until(() -> streams.getFirst().events.stream().anyMatch(e ->
                    e.hasNetworkPolicy() && e.getNetworkPolicy().getName().equals(uid) && e.getNetworkPolicy().getLogDenied()));
            // Removing the annotation is a metadata-only update the engine still passes on.
            client.network().v1().networkPolicies().inNamespace(ns).withName("web")
                    .edit(p -> {
                        p.getMetadata().getAnnotations().remove("weft.dev/log");
                        return p;
                    });
            await().atMost(Duration.ofSeconds(20)).until(() -> {
                var last = streams.getFirst().events.stream().filter(e -> e.hasNetworkPolicy()
                        && e.getNetworkPolicy().getName().equals(uid)).reduce((a, b) -> b).orElseThrow();
                return !last.getNetworkPolicy().getLogDenied();
            });

            // One agent leaves: it is gone from the list, the other stays.
            streams.getFirst().call.cancel("test disconnects", null);
            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
                List<String> now = agents(info());
                assertFalse(now.contains(nodes.getFirst()), now.toString());
                assertTrue(now.contains(nodes.get(1)), now.toString());
            });
            System.out.println("WeftControllerInfo after the changes (" + publisher.writes() + " writes): "
                    + info().getAdditionalProperties());

            // An agent whose stream is on another replica: that replica forwards its reports here (the leader). It is
            // connected while they keep coming (agents re-send every 30 s), and gone a window after the last one.
            String elsewhere = "ci-c-" + suffix;
            ControlPlaneGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS).reportStatus(
                    dev.weft.proto.controlplane.v1.NodeRealizationReport.newBuilder().setNodeName(elsewhere).build());
            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
                List<String> now = agents(info());
                assertTrue(now.contains(elsewhere) && now.contains(nodes.get(1)), now.toString());
                assertEquals(now.size(), number(info(), "connectedAgentNum"));
            });
            // forwarded-agent-window is 3 s here (90 s by default); the heartbeat write drops it
            await().atMost(Duration.ofSeconds(90)).untilAsserted(() -> assertFalse(agents(info()).contains(elsewhere),
                    agents(info()).toString()));
        } finally {
            streams.forEach(s -> s.call.cancel("test ends", null));
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
