package dev.weft.ipam;

import dev.weft.proto.ipam.v1.AllocationState;
import dev.weft.proto.ipam.v1.Ipam;
import dev.weft.proto.ipam.v1.ListAllocationsRequest;
import dev.weft.proto.ipam.v1.ListAllocationsResponse;
import io.fabric8.kubernetes.api.model.NodeBuilder;
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
    void readyOnceNodeCacheSyncedAndListsNodesOverGrpc() {
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() ->
                given().get("/q/health/ready").then().statusCode(200).body("status", equalTo("UP")));

        k8s.nodes().resource(new NodeBuilder().withNewMetadata().withName("node-b").endMetadata()
                .withNewSpec().withPodCIDR("10.10.2.0/24").withPodCIDRs("10.10.2.0/24").endSpec().build()).create();
        k8s.nodes().resource(new NodeBuilder().withNewMetadata().withName("node-a").endMetadata().build()).create();

        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
            ListAllocationsResponse r = ipam.listAllocations(ListAllocationsRequest.getDefaultInstance())
                    .await().atMost(Duration.ofSeconds(5));
            assertEquals(2, r.getAllocationsCount());
            assertEquals("node-a", r.getAllocations(0).getNodeName());
            assertEquals(AllocationState.PENDING, r.getAllocations(0).getState());
            assertEquals("10.10.2.0/24", r.getAllocations(1).getCidrs(0).getCidr());
        });
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
