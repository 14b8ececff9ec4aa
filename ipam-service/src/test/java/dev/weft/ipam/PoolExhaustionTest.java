package dev.weft.ipam;

import dev.weft.proto.ipam.v1.AllocationState;
import dev.weft.proto.ipam.v1.GetNodeCidrsRequest;
import dev.weft.proto.ipam.v1.GetPoolUtilizationRequest;
import dev.weft.proto.ipam.v1.Ipam;
import dev.weft.proto.ipam.v1.NodeAllocation;
import dev.weft.proto.ipam.v1.PoolUtilization;
import io.fabric8.kubernetes.api.model.Event;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A pool of four /30 blocks, one reserved: the fourth Node waits, is told why, and is served once a block frees. */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@TestProfile(PoolExhaustionTest.SmallPool.class)
class PoolExhaustionTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    public static class SmallPool implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("ipam.cluster-cidrs", "10.77.0.0/28",
                    "ipam.node-mask-size-v4", "30",
                    "ipam.reserved-cidrs", "10.77.0.0/30");
        }
    }

    @Inject
    KubernetesClient k8s;

    @GrpcClient("ipam")
    Ipam ipam;

    private NodeAllocation grpcNode(String name) {
        return ipam.getNodeCidrs(GetNodeCidrsRequest.newBuilder().setNodeName(name).build()).await().atMost(WAIT);
    }

    @Test
    void exhaustedPoolIsReportedOnTheNodeAndAllocationResumesWhenABlockFrees() {
        List<String> served = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            String name = TestNodes.unique("small" + i);
            TestNodes.create(k8s, name);
            await().atMost(WAIT).ignoreExceptions().until(() -> TestNodes.podCidrs(k8s, name).size() == 1);
            served.add(name);
        }
        assertEquals(List.of("10.77.0.4/30", "10.77.0.8/30", "10.77.0.12/30"),
                served.stream().map(n -> TestNodes.podCidrs(k8s, n).getFirst()).toList());

        String waiting = TestNodes.unique("small-waiting");
        TestNodes.create(k8s, waiting);
        await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
            NodeAllocation a = grpcNode(waiting);
            assertEquals(AllocationState.POOL_EXHAUSTED, a.getState());
            assertTrue(a.getMessage().contains("no free /30 block left in IPv4 pool 10.77.0.0/28"), a.getMessage());
            NodeCondition c = PodCidrController.condition(k8s.nodes().withName(waiting).get());
            assertEquals("False", c.getStatus());
            assertEquals(PodCidrController.REASON_EXHAUSTED, c.getReason());
            assertEquals(a.getMessage(), c.getMessage());
            List<Event> events = events(waiting);
            assertEquals(1, events.size());
            assertEquals("Warning", events.getFirst().getType());
            assertEquals(PodCidrController.REASON_EXHAUSTED, events.getFirst().getReason());
        });
        assertEquals(List.of(), TestNodes.podCidrs(k8s, waiting));
        PoolUtilization u = ipam.getPoolUtilization(GetPoolUtilizationRequest.getDefaultInstance()).await().atMost(WAIT)
                .getPools(0);
        assertEquals(4, u.getTotalBlocks());
        assertEquals(1, u.getReservedBlocks());
        assertEquals(3, u.getAllocatedBlocks());
        assertEquals(0, u.getFreeBlocks());
        assertEquals(1.0, u.getUtilization(), 1e-9);

        // The service stays healthy: an exhausted pool is the Nodes' problem, reported on them.
        given().get("/q/health/ready").then().statusCode(200).body("status", equalTo("UP"));
        given().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));

        // A Node leaves: its block goes to the waiting Node, whose condition turns True.
        k8s.nodes().withName(served.get(1)).delete();
        await().atMost(WAIT).ignoreExceptions().until(() -> TestNodes.podCidrs(k8s, waiting).equals(List.of("10.77.0.8/30")));
        await().atMost(WAIT).ignoreExceptions().untilAsserted(() -> {
            assertEquals(AllocationState.ALLOCATED, grpcNode(waiting).getState());
            NodeCondition c = PodCidrController.condition(k8s.nodes().withName(waiting).get());
            assertEquals("True", c.getStatus());
            assertEquals(PodCidrController.REASON_ALLOCATED, c.getReason());
        });
        assertEquals(1, events(waiting).stream().filter(e -> "Warning".equals(e.getType())).count(),
                "one Warning, not one per retry");
        TestNodes.assertNoBlockGivenTwice(k8s, List.of());
    }

    private List<Event> events(String node) {
        return k8s.v1().events().inNamespace("default").list().getItems().stream()
                .filter(e -> node.equals(e.getInvolvedObject().getName())).toList();
    }
}
