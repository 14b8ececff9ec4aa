package dev.weft.ipam;

import dev.weft.proto.ipam.v1.AllocationState;
import dev.weft.proto.ipam.v1.Ipam;
import dev.weft.proto.ipam.v1.ListAllocationsRequest;
import dev.weft.proto.ipam.v1.ListAllocationsResponse;
import dev.weft.proto.ipam.v1.NodeAllocation;
import io.fabric8.kubernetes.client.KubernetesClient;
import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import grpc.health.v1.HealthOuterClass.HealthCheckResponse;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static io.restassured.RestAssured.given;
import static org.awaitility.Awaitility.await;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertEquals;

@QuarkusTest
@WithKubernetesTestServer(crud = true)
class IpamServiceTest {

    @Inject
    KubernetesClient k8s;

    @GrpcClient("ipam")
    Ipam ipam;

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    @Test
    void readyOnceNodeCacheSyncedAndListsAllocationsOverGrpc() {
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() ->
                given().get("/q/health/ready").then().statusCode(200).body("status", equalTo("UP")));
        String b = TestNodes.unique("node-b");
        String a = "a" + b;
        TestNodes.create(k8s, b, "10.10.200.0/24");
        TestNodes.create(k8s, a);

        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            ListAllocationsResponse r = ipam.listAllocations(ListAllocationsRequest.getDefaultInstance())
                    .await().atMost(Duration.ofSeconds(5));
            // AssertionError, not NoSuchElementException: untilAsserted retries only the former (the informer may not
            // have seen the Nodes yet).
            NodeAllocation na = r.getAllocationsList().stream().filter(x -> x.getNodeName().equals(a)).findFirst()
                    .orElseThrow(() -> new AssertionError("no allocation for " + a + " yet: " + r));
            NodeAllocation nb = r.getAllocationsList().stream().filter(x -> x.getNodeName().equals(b)).findFirst()
                    .orElseThrow(() -> new AssertionError("no allocation for " + b + " yet: " + r));
            assertEquals(AllocationState.ALLOCATED, na.getState());
            assertEquals(2, na.getCidrsCount(), "dual-stack: one block per family");
            assertEquals(AllocationState.ALLOCATED, nb.getState());
            assertEquals("10.10.200.0/24", nb.getCidrs(0).getCidr());
            assertEquals("10.10.0.0/16", nb.getCidrs(0).getPool());
            List<String> names = r.getAllocationsList().stream().map(NodeAllocation::getNodeName).toList();
            assertEquals(names.stream().sorted().toList(), names, "sorted by node name");
        });
        TestNodes.assertNoBlockGivenTwice(k8s, List.of());
    }

    @Test
    void grpcHealthServiceServesOnTheHttpPort() {
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() ->
                given().get("/q/health/ready").then().statusCode(200));
        ManagedChannel ch = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        try {
            HealthCheckResponse r = HealthGrpc.newBlockingStub(ch)
                    .withDeadlineAfter(5, java.util.concurrent.TimeUnit.SECONDS)
                    .check(HealthCheckRequest.getDefaultInstance());
            // Readiness is UP once the Node cache synced; the gRPC health service reflects it.
            assertEquals(HealthCheckResponse.ServingStatus.SERVING, r.getStatus());
        } finally {
            ch.shutdownNow();
        }
    }
}
