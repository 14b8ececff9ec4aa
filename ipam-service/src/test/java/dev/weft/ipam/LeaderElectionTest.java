package dev.weft.ipam;

import dev.weft.net.IpPrefix;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import dev.weft.proto.ipam.v1.Ipam;
import dev.weft.proto.ipam.v1.ListAllocationsRequest;
import dev.weft.proto.ipam.v1.ListAllocationsResponse;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * Allocator replicas, each with its own informer, allocator and fabric8 LeaderElector on one Lease, against the same
 * Kubernetes test server. The application itself runs read-only here, so these replicas are the only writers.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@TestProfile(LeaderElectionTest.ReadOnlyApp.class)
class LeaderElectionTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final String LEASE = "weft-ipam-test";

    public static class ReadOnlyApp implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("ipam.read-only", "true");
        }
    }

    @Inject
    KubernetesClient k8s;

    @Inject
    IpamSettings settings;

    @GrpcClient("ipam")
    Ipam ipam;

    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void closeReplicas() throws Exception {
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        toClose.clear();
    }

    private PodCidrController replica(String identity) {
        SharedIndexInformer<Node> informer = k8s.nodes().inform();
        toClose.add(informer::close);
        PodCidrController c = new PodCidrController(k8s, informer, new NodeCidrAllocator(settings),
                new PodCidrController.Options(false, true, LEASE, "kube-system", identity, Duration.ofSeconds(3),
                        Duration.ofSeconds(2), Duration.ofMillis(250), "default"));
        toClose.add(c);
        return c.start();
    }

    private String leaseHolder() {
        Lease l = k8s.leases().inNamespace("kube-system").withName(LEASE).get();
        return l == null || l.getSpec() == null ? null : l.getSpec().getHolderIdentity();
    }

    private void awaitAllAllocated() {
        await().atMost(WAIT).until(() -> k8s.nodes().list().getItems().stream()
                .allMatch(n -> n.getSpec() != null && n.getSpec().getPodCIDRs() != null && n.getSpec().getPodCIDRs().size() == 2));
    }

    @Test
    void twoReplicasNeverDoubleAllocateAndTheFollowerTakesOver() throws Exception {
        PodCidrController r1 = replica(TestNodes.unique("replica-1"));
        PodCidrController r2 = replica(TestNodes.unique("replica-2"));
        await().atMost(WAIT).until(() -> r1.isLeader() || r2.isLeader());
        assertFalse(r1.isLeader() && r2.isLeader(), "one leader at a time");
        PodCidrController leader = r1.isLeader() ? r1 : r2;
        PodCidrController follower = leader == r1 ? r2 : r1;
        assertEquals(leader.identity(), leaseHolder());

        // Nodes join while the leader steps down half-way: the follower takes over without double allocation.
        for (int i = 0; i < 30; i++) {
            TestNodes.create(k8s, TestNodes.unique("ha" + i));
            if (i == 15) {
                leader.close();
            }
        }
        await().atMost(WAIT).until(follower::isLeader);
        assertEquals(follower.identity(), leaseHolder());
        awaitAllAllocated();
        assertEquals(2 * k8s.nodes().list().getItems().size(), TestNodes.assertNoBlockGivenTwice(k8s, List.of()));

        // A third replica joins as follower; its informer view answers like the leader's.
        PodCidrController r3 = replica(TestNodes.unique("replica-3"));
        await().atMost(WAIT).untilAsserted(() -> assertEquals(follower.allocator().list(), r3.allocator().list()));
        assertFalse(r3.isLeader());

        // The application, a replica that never leads, answers over gRPC from its informer view all the same.
        await().atMost(WAIT).untilAsserted(() -> {
            ListAllocationsResponse r = ipam.listAllocations(ListAllocationsRequest.getDefaultInstance())
                    .await().atMost(WAIT);
            assertEquals(follower.allocator().list().stream().map(n -> n.nodeName() + "=" + n.cidrs()).toList(),
                    r.getAllocationsList().stream().map(a -> a.getNodeName() + "=" + a.getCidrsList().stream()
                            .map(c -> IpPrefix.parse(c.getCidr())).toList()).toList());
        });
    }

    @Test
    void restartedAllocatorRebuildsTheSameStateAndAllocatesNothingTwice() throws Exception {
        PodCidrController before = replica(TestNodes.unique("before-restart"));
        await().atMost(WAIT).until(before::isLeader);
        for (int i = 0; i < 25; i++) {
            TestNodes.create(k8s, TestNodes.unique("restart" + i));
        }
        awaitAllAllocated();
        await().atMost(WAIT).until(() -> before.allocator().waitingNodes().isEmpty()
                && before.allocator().size() == k8s.nodes().list().getItems().size());
        List<NodeCidrAllocator.NodeCidrs> state = before.allocator().list();
        Map<String, String> versions = versions();
        before.close();

        PodCidrController after = replica(TestNodes.unique("after-restart"));
        await().atMost(WAIT).until(after::isLeader);
        await().atMost(WAIT).untilAsserted(() -> assertEquals(state, after.allocator().list()));

        // ...and continues from there without handing out a block twice.
        for (int i = 0; i < 3; i++) {
            TestNodes.create(k8s, TestNodes.unique("after" + i));
        }
        awaitAllAllocated();
        TestNodes.assertNoBlockGivenTwice(k8s, List.of());
        // The allocator works in order on one thread: the term start (rebuild, serving waiting Nodes) and the replay of
        // the existing Nodes were queued before the new Nodes' events, so with those allocated any rewrite of an old
        // Node would already show in its resourceVersion.
        Map<String, String> now = versions();
        now.keySet().retainAll(versions.keySet());
        assertEquals(versions, now, "the restarted leader rewrote no Node");
    }

    private Map<String, String> versions() {
        return k8s.nodes().list().getItems().stream().collect(Collectors.toMap(n -> n.getMetadata().getName(),
                n -> n.getMetadata().getResourceVersion(), (a, b) -> a, java.util.TreeMap::new));
    }

}
