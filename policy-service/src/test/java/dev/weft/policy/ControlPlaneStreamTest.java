package dev.weft.policy;

import dev.weft.policy.core.GroupKey;
import dev.weft.policy.core.Selector;
import dev.weft.policy.status.StatusPublisher;
import dev.weft.proto.controlplane.v1.ControlPlaneGrpc;
import dev.weft.proto.controlplane.v1.GetPolicyStatusRequest;
import dev.weft.proto.controlplane.v1.NodeRealizationReport;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyRealization;
import dev.weft.proto.controlplane.v1.PolicyStatus;
import dev.weft.proto.controlplane.v1.WatchPoliciesRequest;
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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static dev.weft.policy.K8s.*;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The service end to end: Kubernetes objects change on the test API server, three agents on real gRPC streams
 * receive exactly their span (with patches), one re-syncs after a disconnect, agents report realization and the
 * status reaches the gRPC API and the NetworkPolicy's annotations; an invalid policy gets an Event.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
class ControlPlaneStreamTest {

    @Inject
    KubernetesClient client;

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    private ManagedChannel channel;
    private final List<GrpcAgent> agents = new ArrayList<>();
    private final String suffix = UUID.randomUUID().toString().substring(0, 6);

    /** A test agent: one WatchPolicies stream applied to an {@link AgentView} that checks the stream contract. */
    static class GrpcAgent implements ClientResponseObserver<WatchPoliciesRequest, PolicyEvent> {
        final AgentView view = new AgentView();
        volatile ClientCallStreamObserver<WatchPoliciesRequest> call;
        volatile Throwable error;

        @Override
        public void beforeStart(ClientCallStreamObserver<WatchPoliciesRequest> requestStream) {
            call = requestStream;
        }

        @Override
        public void onNext(PolicyEvent e) {
            try {
                view.apply(e);
            } catch (AssertionError ae) {
                error = ae;
            }
        }

        @Override
        public void onError(Throwable t) {
            if (error == null) {
                error = t;
            }
        }

        @Override
        public void onCompleted() {
        }

        void disconnect() {
            call.cancel("test disconnects", null);
        }
    }

    @BeforeEach
    void connect() {
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    }

    @AfterEach
    void close() throws InterruptedException {
        agents.forEach(a -> a.call.cancel("test ends", null));
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private GrpcAgent watch(String node) {
        GrpcAgent a = new GrpcAgent();
        ControlPlaneGrpc.newStub(channel).watchPolicies(
                WatchPoliciesRequest.newBuilder().setNodeName(node).setAgentId("test-" + node).build(), a);
        agents.add(a);
        await().atMost(Duration.ofSeconds(20)).until(() -> a.view.synced || a.error != null);
        assertNull(a.error);
        return a;
    }

    private String n(String node) {
        return node + "-" + suffix;
    }

    @Test
    void threeAgentsReceiveTheirSpanWithPatchesAndResyncAfterDisconnect() {
        String nsA = "a-" + suffix;
        String nsB = "b-" + suffix;
        String team = "team" + suffix;
        client.resource(namespace(nsA, team + "=a")).create();
        client.resource(namespace(nsB, team + "=b")).create();
        client.resource(pod(nsA, "web-1", "app=web", n("n1"), "10.1.1.1")).create();
        client.resource(pod(nsA, "web-2", "app=web", n("n2"), "10.1.2.1")).create();
        client.resource(pod(nsB, "client-1", "app=client", n("n3"), "10.1.3.1")).create();

        GrpcAgent a1 = watch(n("n1"));
        GrpcAgent a2 = watch(n("n2"));
        GrpcAgent a3 = watch(n("n3"));

        NetworkPolicy np = client.resource(ingressPolicy(nsA, "web", sel("app=web"),
                List.of(nsPeer(sel(team + "=b"), sel("app=client"))), List.of(port("TCP", 80, null)))).create();
        String uid = np.getMetadata().getUid();
        String web = GroupKey.inNamespace(nsA, Selector.of(sel("app=web"))).hashName();
        String clients = GroupKey.acrossNamespaces(Selector.of(sel(team + "=b")), Selector.of(sel("app=client"))).hashName();

        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            assertEquals(Set.of(uid), a1.view.policyNames());
            assertEquals(Set.of(uid), a2.view.policyNames());
        });
        assertEquals(Set.of(nsA + "/web-1"), a1.view.appliedToMembers(web));
        assertEquals(Set.of(nsA + "/web-2"), a2.view.appliedToMembers(web));
        assertEquals(Set.of(nsB + "/client-1"), a1.view.addressMembers(clients));
        assertEquals(Set.of(nsB + "/client-1"), a2.view.addressMembers(clients));
        var rule = a1.view.policies.get(uid).getRules(0);
        assertEquals(80, rule.getServices(0).getPortNumber());
        assertEquals(List.of(clients), rule.getPeer().getAddressGroupsList());

        // A web pod on n3 brings the policy to n3 only.
        client.resource(pod(nsA, "web-3", "app=web", n("n3"), "10.1.3.9")).create();
        await().atMost(Duration.ofSeconds(20)).until(() -> a3.view.policyNames().equals(Set.of(uid)));
        assertEquals(Set.of(nsA + "/web-3"), a3.view.appliedToMembers(web));
        assertEquals(Set.of(nsA + "/web-1"), a1.view.appliedToMembers(web), "n1 never sees pods of other nodes");

        // A new client: a patch to all three.
        client.resource(pod(nsB, "client-2", "app=client", n("n1"), "10.1.1.7")).create();
        Set<String> bothClients = Set.of(nsB + "/client-1", nsB + "/client-2");
        await().atMost(Duration.ofSeconds(20)).until(() -> List.of(a1, a2, a3).stream()
                .allMatch(a -> bothClients.equals(a.view.addressMembers(clients))));
        for (GrpcAgent a : List.of(a1, a2, a3)) {
            assertTrue(a.view.log.stream().anyMatch(e -> e.getType() == PolicyEvent.Type.MODIFIED
                    && e.getKind() == dev.weft.proto.controlplane.v1.ObjectKind.ADDRESS_GROUP), "patched, not re-sent");
            assertNull(a.error);
        }

        // n1 disconnects; meanwhile client-1 goes away; the reconnected agent gets a fresh consistent snapshot.
        a1.disconnect();
        client.pods().inNamespace(nsB).withName("client-1").delete();
        await().atMost(Duration.ofSeconds(20)).until(() -> Set.of(nsB + "/client-2").equals(a2.view.addressMembers(clients)));
        GrpcAgent a1again = watch(n("n1"));
        assertEquals(Set.of(uid), a1again.view.policyNames());
        assertEquals(Set.of(nsB + "/client-2"), a1again.view.addressMembers(clients));
        assertEquals(Set.of(nsA + "/web-1"), a1again.view.appliedToMembers(web));

        // Realization: n1 and n2 report the current generation, then n3.
        var stub = ControlPlaneGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
        long gen = a1again.view.policies.get(uid).getSource().getGeneration();
        for (String node : List.of(n("n1"), n("n2"))) {
            stub.reportStatus(NodeRealizationReport.newBuilder().setNodeName(node).addPolicies(
                    PolicyRealization.newBuilder().setPolicyName(uid).setGeneration(gen).setRealized(true)).build());
        }
        PolicyStatus st = stub.getPolicyStatus(GetPolicyStatusRequest.newBuilder().setNamespace(nsA).setName("web").build())
                .getItems(0);
        assertEquals(3, st.getDesiredNodes());
        assertEquals(2, st.getRealizedNodes());
        assertEquals(List.of(n("n3")), st.getPendingNodesList());
        stub.reportStatus(NodeRealizationReport.newBuilder().setNodeName(n("n3")).addPolicies(
                PolicyRealization.newBuilder().setPolicyName(uid).setGeneration(gen).setRealized(true)).build());
        assertEquals(3, stub.getPolicyStatus(GetPolicyStatusRequest.newBuilder().setNamespace(nsA).build())
                .getItems(0).getRealizedNodes());
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            var annotations = client.network().v1().networkPolicies().inNamespace(nsA).withName("web").get()
                    .getMetadata().getAnnotations();
            assertEquals("3/3", annotations.get(StatusPublisher.REALIZATION));
            assertEquals(Long.toString(gen), annotations.get(StatusPublisher.REALIZATION_GENERATION));
        });
        // Our own annotation update changed nothing the agents see.
        assertNull(a2.error);
    }

    /** The value of the one sample of {@code name} whose labels contain every fragment; fails if there is none. */
    static double sample(String scrape, String name, String... labelFragments) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("^" + java.util.regex.Pattern.quote(name)
                + "(\\{[^}]*})? ([-+0-9.eE]+|NaN)$", java.util.regex.Pattern.MULTILINE).matcher(scrape);
        while (m.find()) {
            String labels = m.group(1) == null ? "" : m.group(1);
            if (java.util.Arrays.stream(labelFragments).allMatch(labels::contains)) {
                return Double.parseDouble(m.group(2));
            }
        }
        throw new AssertionError("no sample " + name + " with " + List.of(labelFragments) + " in:\n" + scrape);
    }

    private String scrape() {
        return io.restassured.RestAssured.given().port(port).get("/q/metrics").then().statusCode(200).extract().asString();
    }

    @Test
    void metricsFollowAgentsPoliciesAndEvents() {
        String before = scrape();
        double agentsBefore = sample(before, "weft_policy_connected_agents");
        double policiesBefore = sample(before, "weft_policy_networkpolicies");
        String ns = "metrics-" + suffix;
        client.resource(namespace(ns, "m=" + suffix)).create();
        client.resource(pod(ns, "web", "app=web", n("m1"), "10.1.9.1")).create();
        GrpcAgent agent = watch(n("m1"));
        String node = "node=\"" + n("m1") + "\"";
        String withAgent = scrape();
        assertEquals(agentsBefore + 1, sample(withAgent, "weft_policy_connected_agents"));
        assertEquals(0, sample(withAgent, "weft_policy_stream_queued_events", node), "a reading agent has no backlog");

        client.resource(ingressPolicy(ns, "web", sel("app=web"), List.of(podPeer(sel("app=client"))),
                List.of(port("TCP", 80, null)))).create();
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            String s = scrape();
            assertEquals(policiesBefore + 1, sample(s, "weft_policy_networkpolicies"));
            assertTrue(sample(s, "weft_policy_groups") >= 2, "applied-to and address group");
            assertTrue(sample(s, "weft_policy_event_compute_seconds_count", "kind=\"NetworkPolicy\"") >= 1);
            assertTrue(sample(s, "weft_policy_event_compute_seconds_count", "kind=\"Pod\"") >= 1);
        });
        assertEquals(1, sample(scrape(), "weft_policy_leader"), "the only replica leads");

        agent.disconnect();
        agents.remove(agent);
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            String s = scrape();
            assertEquals(agentsBefore, sample(s, "weft_policy_connected_agents"));
            assertFalse(s.contains("weft_policy_stream_queued_events{" + node), "the closed stream's gauge is gone");
        });
    }

    @Test
    void reflectionListsTheControlPlaneService() throws Exception {
        var answer = new java.util.concurrent.CompletableFuture<io.grpc.reflection.v1.ServerReflectionResponse>();
        var requests = io.grpc.reflection.v1.ServerReflectionGrpc.newStub(channel).serverReflectionInfo(
                new io.grpc.stub.StreamObserver<>() {
                    @Override
                    public void onNext(io.grpc.reflection.v1.ServerReflectionResponse r) {
                        answer.complete(r);
                    }

                    @Override
                    public void onError(Throwable t) {
                        answer.completeExceptionally(t);
                    }

                    @Override
                    public void onCompleted() {
                    }
                });
        requests.onNext(io.grpc.reflection.v1.ServerReflectionRequest.newBuilder().setListServices("*").build());
        List<String> services = answer.get(30, TimeUnit.SECONDS).getListServicesResponse().getServiceList().stream()
                .map(io.grpc.reflection.v1.ServiceResponse::getName).toList();
        requests.onCompleted();
        assertTrue(services.contains("weft.controlplane.v1.ControlPlane"), services.toString());
    }

    @Test
    void invalidPolicyIsReportedAndOthersStillComputed() {
        String ns = "bad-" + suffix;
        client.resource(namespace(ns, "")).create();
        client.resource(pod(ns, "p1", "app=x", n("n7"), "10.7.0.1")).create();
        GrpcAgent a = watch(n("n7"));
        client.resource(ingressPolicy(ns, "broken", sel("app=x"), List.of(ipPeer("10.0.0.0/8", "11.0.0.0/16")), List.of()))
                .create();
        NetworkPolicy ok = client.resource(ingressPolicy(ns, "fine", sel("app=x"), List.of(), List.of())).create();
        await().atMost(Duration.ofSeconds(20)).until(() -> a.view.policyNames().equals(Set.of(ok.getMetadata().getUid())));
        var stub = ControlPlaneGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
        PolicyStatus broken = stub.getPolicyStatus(GetPolicyStatusRequest.newBuilder().setNamespace(ns).setName("broken")
                .build()).getItems(0);
        assertTrue(broken.getError().contains("not inside"), broken.getError());
        await().atMost(Duration.ofSeconds(20)).until(() -> client.v1().events().inNamespace(ns).list().getItems().stream()
                .anyMatch(e -> "InvalidNetworkPolicy".equals(e.getReason())
                        && "broken".equals(e.getInvolvedObject().getName())));
        await().atMost(Duration.ofSeconds(20)).until(() -> client.network().v1().networkPolicies().inNamespace(ns)
                .withName("broken").get().getMetadata().getAnnotations().getOrDefault(StatusPublisher.REALIZATION_ERROR, "")
                .contains("not inside"));
        assertNull(a.error);
    }

    @Inject
    PolicyComputation computation;

    @Test
    void aStalledAgentIsCutOffWithoutHoldingBackOthersAndThenResyncs() {
        String ns = "slow-" + suffix;
        client.resource(namespace(ns, "")).create();
        client.resource(pod(ns, "p-slow", "app=x", n("slow"), "10.9.0.1")).create();
        client.resource(pod(ns, "p-fast", "app=x", n("fast"), "10.9.0.2")).create();
        GrpcAgent fast = watch(n("fast"));
        int before = computation.engine().subscriptionCount();

        // The stalled agent takes one message and then stops reading: HTTP/2 flow control fills up.
        GrpcAgent stalled = new GrpcAgent() {
            @Override
            public void beforeStart(ClientCallStreamObserver<WatchPoliciesRequest> requestStream) {
                super.beforeStart(requestStream);
                requestStream.disableAutoRequestWithInitial(1);
            }
        };
        ControlPlaneGrpc.newStub(channel).watchPolicies(
                WatchPoliciesRequest.newBuilder().setNodeName(n("slow")).setAgentId("stalled").build(), stalled);
        agents.add(stalled);
        await().atMost(Duration.ofSeconds(20)).until(() -> computation.engine().subscriptionCount() == before + 1);

        // Large policies (2,000 ipBlocks each) until the server gives up on the stalled stream.
        List<String> uids = new ArrayList<>();
        for (int i = 0; i < 200 && computation.engine().subscriptionCount() > before; i++) {
            List<io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer> blocks = new ArrayList<>();
            for (int b = 0; b < 2000; b++) {
                blocks.add(ipPeer("10." + (b >> 8) + "." + (b & 255) + ".0/24"));
            }
            uids.add(client.resource(ingressPolicy(ns, "big-" + i, sel("app=x"), blocks, List.of())).create()
                    .getMetadata().getUid());
            int created = uids.size();
            await().atMost(Duration.ofSeconds(20)).until(() -> fast.view.policyNames().size() == created
                    || computation.engine().subscriptionCount() == before);
        }
        assertEquals(before, computation.engine().subscriptionCount(), "stalled stream dropped");
        // The fast agent was never held back.
        await().atMost(Duration.ofSeconds(20)).until(() -> fast.view.policyNames().equals(Set.copyOf(uids)));
        assertNull(fast.error);

        // Once the stalled agent reads again it sees RESOURCE_EXHAUSTED, reconnects and gets everything.
        stalled.call.request(Integer.MAX_VALUE);
        await().atMost(Duration.ofSeconds(30)).until(() -> stalled.error != null);
        assertEquals(io.grpc.Status.Code.RESOURCE_EXHAUSTED, io.grpc.Status.fromThrowable(stalled.error).getCode());
        GrpcAgent again = watch(n("slow"));
        assertEquals(Set.copyOf(uids), again.view.policyNames());
    }
}
