package dev.weft.ipam;

import dev.weft.net.AddressFamily;
import dev.weft.net.IpPrefix;
import dev.weft.proto.ipam.v1.AllocationEvent;
import dev.weft.proto.ipam.v1.AllocationState;
import dev.weft.proto.ipam.v1.GetNodeCidrsRequest;
import dev.weft.proto.ipam.v1.GetPoolUtilizationRequest;
import dev.weft.proto.ipam.v1.IpFamily;
import dev.weft.proto.ipam.v1.Ipam;
import dev.weft.proto.ipam.v1.ListAllocationsRequest;
import dev.weft.proto.ipam.v1.LookupIpRequest;
import dev.weft.proto.ipam.v1.LookupIpResponse;
import dev.weft.proto.ipam.v1.NodeAllocation;
import dev.weft.proto.ipam.v1.PoolUtilization;
import dev.weft.proto.ipam.v1.PoolUtilizationResponse;
import dev.weft.proto.ipam.v1.WatchAllocationsRequest;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import dev.weft.proto.ipam.v1.IpamGrpc;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Allocation through the Kubernetes test server and every query through a real gRPC channel (dual-stack profile). */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
class NodeAllocationTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    @Inject
    KubernetesClient k8s;

    @Inject
    NodeCidrAllocator allocator;

    @GrpcClient("ipam")
    Ipam ipam;

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    private List<String> awaitCidrs(String name) {
        await().atMost(WAIT).ignoreExceptions().until(() -> TestNodes.podCidrs(k8s, name).size() == 2);
        return TestNodes.podCidrs(k8s, name);
    }

    private NodeAllocation grpcNode(String name) {
        return ipam.getNodeCidrs(GetNodeCidrsRequest.newBuilder().setNodeName(name).build()).await().atMost(WAIT);
    }

    private static Status.Code code(Throwable t) {
        return assertInstanceOf(StatusRuntimeException.class, t).getStatus().getCode();
    }

    @Test
    void nodesJoinLeaveAndRejoin() {
        String name = TestNodes.unique("join");
        TestNodes.create(k8s, name);
        List<String> cidrs = awaitCidrs(name);
        IpPrefix v4 = IpPrefix.parse(cidrs.get(0));
        IpPrefix v6 = IpPrefix.parse(cidrs.get(1));
        assertEquals(AddressFamily.IPV4, v4.family(), "IPv4 first, as Kubernetes orders podCIDRs");
        assertEquals(24, v4.prefixLength());
        assertTrue(IpPrefix.parse("10.10.0.0/16").contains(v4));
        assertNotEquals("10.10.0.0/24", v4.toString(), "the reserved range is never handed out");
        assertEquals(64, v6.prefixLength());
        assertTrue(IpPrefix.parse("fd00:10::/48").contains(v6));
        await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertEquals(AllocationState.ALLOCATED, grpcNode(name).getState()));
        NodeAllocation na = grpcNode(name);
        assertEquals(cidrs, na.getCidrsList().stream().map(c -> c.getCidr()).toList());
        assertEquals(IpFamily.IPV6, na.getCidrs(1).getFamily());
        assertEquals("fd00:10::/48", na.getCidrs(1).getPool());
        String ip = v4.address(77).toString();
        LookupIpResponse owner = ipam.lookupIp(LookupIpRequest.newBuilder().setIp(ip).build()).await().atMost(WAIT);
        assertEquals(name, owner.getNodeName());
        assertEquals(v4.toString(), owner.getPodCidr());
        assertEquals("10.10.0.0/16", owner.getPool());

        // Leave: the blocks are released and nobody owns the address any more.
        k8s.nodes().withName(name).delete();
        await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertEquals(Status.Code.NOT_FOUND, code(assertThrows(Exception.class,
                () -> grpcNode(name)))));
        Throwable gone = assertThrows(Exception.class,
                () -> ipam.lookupIp(LookupIpRequest.newBuilder().setIp(ip).build()).await().atMost(WAIT));
        assertEquals(Status.Code.NOT_FOUND, code(gone));
        assertTrue(gone.getMessage().contains("in pool 10.10.0.0/16 but in no allocated block"), gone.getMessage());

        // Rejoin under the same name: a new Node object, served again, and the lowest free block is the one freed.
        TestNodes.create(k8s, name);
        List<String> again = awaitCidrs(name);
        assertTrue(IpPrefix.parse(again.get(0)).network().compareTo(v4.network()) <= 0, again + " vs " + cidrs);
        TestNodes.assertNoBlockGivenTwice(k8s, List.of());
    }

    @Test
    void carriedCidrsAreKeptAndConflictsReportedOnTheNode() {
        String keeper = TestNodes.unique("keeper");
        String twin = "twin-" + keeper;
        String outside = "outside-" + keeper;
        try {
            TestNodes.create(k8s, keeper, "10.10.250.0/24");
            await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> assertEquals(AllocationState.ALLOCATED, grpcNode(keeper).getState()));
            assertEquals(List.of("10.10.250.0/24"), TestNodes.podCidrs(k8s, keeper), "a CIDR already present is respected");

            TestNodes.create(k8s, twin, "10.10.250.0/24");
            TestNodes.create(k8s, outside, "192.168.50.0/24");
            await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
                NodeAllocation t = grpcNode(twin);
                assertEquals(AllocationState.CONFLICT, t.getState());
                assertTrue(t.getMessage().contains("overlaps 10.10.250.0/24 of Node " + keeper), t.getMessage());
                NodeAllocation o = grpcNode(outside);
                assertEquals(AllocationState.CONFLICT, o.getState());
                assertTrue(o.getMessage().contains("192.168.50.0/24 lies outside every cluster CIDR"), o.getMessage());
                assertEquals("", o.getCidrs(0).getPool());
            });
            // The leader tells the Node: a Warning Event and PodCIDRAllocated=False/CIDRConflict.
            await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
                NodeCondition c = PodCidrController.condition(k8s.nodes().withName(twin).get());
                assertEquals("False", c.getStatus());
                assertEquals(PodCidrController.REASON_CONFLICT, c.getReason());
                List<Event> events = k8s.v1().events().inNamespace("default").list().getItems().stream()
                        .filter(e -> twin.equals(e.getInvolvedObject().getName())).toList();
                assertEquals(1, events.size());
                assertEquals("Warning", events.getFirst().getType());
                assertEquals(PodCidrController.REASON_CONFLICT, events.getFirst().getReason());
            });
            assertEquals(keeper, ipam.lookupIp(LookupIpRequest.newBuilder().setIp("10.10.250.9").build())
                    .await().atMost(WAIT).getNodeName(), "the older Node keeps the block");
            assertEquals(List.of("10.10.250.0/24"), TestNodes.podCidrs(k8s, twin), "the conflicting CIDR is never rewritten");

            // The holder leaves: the twin's CIDR is free, so it becomes the twin's.
            k8s.nodes().withName(keeper).delete();
            await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
                assertEquals(AllocationState.ALLOCATED, grpcNode(twin).getState());
                NodeCondition c = PodCidrController.condition(k8s.nodes().withName(twin).get());
                assertEquals("True", c.getStatus(), "the conflict is over and the Node is told so");
            });
            assertEquals(twin, ipam.lookupIp(LookupIpRequest.newBuilder().setIp("10.10.250.9").build())
                    .await().atMost(WAIT).getNodeName());
        } finally {
            for (String n : List.of(keeper, twin, outside)) {
                k8s.nodes().withName(n).delete();
            }
        }
    }

    @Test
    void invalidRequestsGetClearStatuses() {
        Throwable t = assertThrows(Exception.class, () -> grpcNode(""));
        assertEquals(Status.Code.INVALID_ARGUMENT, code(t));
        assertTrue(t.getMessage().contains("node_name is required"), t.getMessage());
        t = assertThrows(Exception.class, () -> grpcNode("no-such-node"));
        assertEquals(Status.Code.NOT_FOUND, code(t));
        assertTrue(t.getMessage().contains("no Node named 'no-such-node'"), t.getMessage());
        t = assertThrows(Exception.class, () -> ipam.lookupIp(LookupIpRequest.newBuilder().setIp("10.10.1").build())
                .await().atMost(WAIT));
        assertEquals(Status.Code.INVALID_ARGUMENT, code(t));
        assertTrue(t.getMessage().contains("'10.10.1' is not an IPv4 or IPv6 address"), t.getMessage());
        t = assertThrows(Exception.class, () -> ipam.lookupIp(LookupIpRequest.newBuilder().setIp("8.8.8.8").build())
                .await().atMost(WAIT));
        assertEquals(Status.Code.NOT_FOUND, code(t));
        assertTrue(t.getMessage().contains("8.8.8.8 is in no cluster CIDR"), t.getMessage());
    }

    @Test
    void poolUtilizationPerPool() {
        String name = TestNodes.unique("util");
        TestNodes.create(k8s, name);
        awaitCidrs(name);
        await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
            PoolUtilizationResponse r = ipam.getPoolUtilization(GetPoolUtilizationRequest.getDefaultInstance())
                    .await().atMost(WAIT);
            assertEquals(2, r.getPoolsCount());
            PoolUtilization v4 = r.getPools(0);
            assertEquals("10.10.0.0/16", v4.getPoolCidr());
            assertEquals(IpFamily.IPV4, v4.getFamily());
            assertEquals(24, v4.getNodeMaskSize());
            assertEquals(256, v4.getTotalBlocks());
            assertEquals(1, v4.getReservedBlocks());
            long v4Nodes = ipam.listAllocations(ListAllocationsRequest.newBuilder().setFamily(IpFamily.IPV4).build())
                    .await().atMost(WAIT).getAllocationsList().stream()
                    .filter(a -> a.getState() == AllocationState.ALLOCATED)
                    .filter(a -> a.getCidrsList().stream().anyMatch(c -> c.getPool().equals("10.10.0.0/16"))).count();
            assertEquals(v4Nodes, v4.getAllocatedBlocks());
            assertEquals(256 - 1 - v4Nodes, v4.getFreeBlocks());
            assertEquals((double) v4Nodes / 255, v4.getUtilization(), 1e-9);
            PoolUtilization v6 = r.getPools(1);
            assertEquals("fd00:10::/48", v6.getPoolCidr());
            assertEquals(65536, v6.getTotalBlocks());
        });
        // The family filter keeps only that family's CIDRs.
        ipam.listAllocations(ListAllocationsRequest.newBuilder().setFamily(IpFamily.IPV6).build()).await().atMost(WAIT)
                .getAllocationsList().forEach(a -> a.getCidrsList().forEach(c -> assertEquals(IpFamily.IPV6, c.getFamily())));
    }

    /** A server-streaming watch on a plain grpc-java channel, cancellable like an agent's. */
    private final class Watcher implements AutoCloseable {
        final List<AllocationEvent> events = new CopyOnWriteArrayList<>();
        final ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        volatile ClientCallStreamObserver<WatchAllocationsRequest> call;

        Watcher(WatchAllocationsRequest request) {
            IpamGrpc.newStub(channel).watchAllocations(request, new ClientResponseObserver<WatchAllocationsRequest, AllocationEvent>() {
                @Override
                public void beforeStart(ClientCallStreamObserver<WatchAllocationsRequest> requestStream) {
                    call = requestStream;
                }

                @Override
                public void onNext(AllocationEvent value) {
                    events.add(value);
                }

                @Override
                public void onError(Throwable t) {
                }

                @Override
                public void onCompleted() {
                }
            });
        }

        @Override
        public void close() {
            call.cancel("test done", null);
            channel.shutdownNow();
        }
    }

    @Test
    void watchSendsSnapshotThenSyncedThenChanges() {
        String existing = TestNodes.unique("w-existing");
        TestNodes.create(k8s, existing);
        awaitCidrs(existing);
        await().atMost(WAIT).ignoreExceptions().until(() -> allocator.get(existing).map(n -> n.state() == AllocationState.ALLOCATED).orElse(false));
        int watchersBefore = allocator.watchers();
        try (Watcher w = new Watcher(WatchAllocationsRequest.getDefaultInstance())) {
            List<AllocationEvent> events = w.events;
            await().atMost(WAIT).ignoreExceptions().until(() -> events.stream().anyMatch(e -> e.getType() == AllocationEvent.Type.SYNCED));
            int synced = events.stream().map(AllocationEvent::getType).toList().indexOf(AllocationEvent.Type.SYNCED);
            assertTrue(events.subList(0, synced).stream().allMatch(e -> e.getType() == AllocationEvent.Type.SNAPSHOT));
            assertTrue(events.subList(0, synced).stream().anyMatch(e -> e.getAllocation().getNodeName().equals(existing)
                    && e.getAllocation().getState() == AllocationState.ALLOCATED));

            String joiner = TestNodes.unique("w-joiner");
            TestNodes.create(k8s, joiner);
            awaitCidrs(joiner);
            k8s.nodes().withName(joiner).delete();
            await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
                List<AllocationEvent> mine = events.stream().filter(e -> e.getAllocation().getNodeName().equals(joiner)).toList();
                assertEquals(List.of(AllocationEvent.Type.ADDED, AllocationEvent.Type.MODIFIED, AllocationEvent.Type.DELETED),
                        mine.stream().map(AllocationEvent::getType).toList());
                assertEquals(AllocationState.PENDING, mine.get(0).getAllocation().getState());
                assertEquals(AllocationState.ALLOCATED, mine.get(1).getAllocation().getState());
                assertEquals(2, mine.get(1).getAllocation().getCidrsCount());
            });
            List<Long> revisions = events.subList(synced + 1, events.size()).stream().map(AllocationEvent::getRevision).toList();
            assertEquals(revisions.stream().sorted().toList(), revisions, "changes arrive in revision order");
        }
        // A watch filtered on one Node sees only that Node.
        try (Watcher w = new Watcher(WatchAllocationsRequest.newBuilder().setNodeName(existing).build())) {
            await().atMost(WAIT).ignoreExceptions().until(() -> w.events.size() == 2);
            assertEquals(AllocationEvent.Type.SNAPSHOT, w.events.get(0).getType());
            assertEquals(existing, w.events.get(0).getAllocation().getNodeName());
            assertEquals(AllocationEvent.Type.SYNCED, w.events.get(1).getType());
        }
        // A client that goes away ends its watch on the server too.
        await().atMost(WAIT).ignoreExceptions().until(() -> allocator.watchers() == watchersBefore);
    }

    /** The premise of the controller's writes: the test server refuses an update from a stale resourceVersion. */
    @Test
    void staleWritesAreRefusedWithConflict() {
        String name = TestNodes.unique("stale");
        Node created = TestNodes.create(k8s, name);
        awaitCidrs(name);
        Node stale = new io.fabric8.kubernetes.api.model.NodeBuilder(created).editOrNewSpec()
                .withPodCIDR("10.10.99.0/24").withPodCIDRs("10.10.99.0/24").endSpec().build();
        io.fabric8.kubernetes.client.KubernetesClientException e = assertThrows(
                io.fabric8.kubernetes.client.KubernetesClientException.class, () -> k8s.nodes().resource(stale).update());
        assertEquals(409, e.getCode());
        assertEquals(2, TestNodes.podCidrs(k8s, name).size());
        k8s.nodes().withName(name).delete();
    }

    /** A restarted allocator rebuilds exactly this state from the Nodes alone. */
    @Test
    void freshAllocatorBuiltFromTheSameNodesHasTheSameState() {
        for (int i = 0; i < 5; i++) {
            TestNodes.create(k8s, TestNodes.unique("rebuild"));
        }
        await().atMost(WAIT).ignoreExceptions().until(() -> k8s.nodes().list().getItems().stream()
                .allMatch(n -> allocator.get(n.getMetadata().getName()).map(a -> a.state() != AllocationState.PENDING).orElse(false)));
        await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
            List<Node> nodes = k8s.nodes().list().getItems();
            NodeCidrAllocator fresh = new NodeCidrAllocator(allocator.settings());
            fresh.rebuild(nodes.stream().map(PodCidrController::view).toList());
            assertEquals(allocator.list(), fresh.list());
            assertEquals(allocator.utilization(), fresh.utilization());
        });
        TestNodes.assertNoBlockGivenTwice(k8s, List.of());
    }
}
