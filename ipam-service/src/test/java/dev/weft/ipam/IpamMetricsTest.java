package dev.weft.ipam;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.reflection.v1.ServerReflectionGrpc;
import io.grpc.reflection.v1.ServerReflectionRequest;
import io.grpc.reflection.v1.ServerReflectionResponse;
import io.grpc.reflection.v1.ServiceResponse;
import io.grpc.stub.StreamObserver;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import io.restassured.RestAssured;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Prometheus endpoint as a scraper sees it (real HTTP on the test port) while Nodes come and go on the Kubernetes
 * test server, and gRPC server reflection through a real channel.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
class IpamMetricsTest {
    private static final String V4 = "family=\"ipv4\",pool=\"10.10.0.0/16\"";

    @Inject
    KubernetesClient k8s;

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    /** The value of the one sample of {@code name} whose labels contain every fragment; fails if there is none. */
    static double sample(String scrape, String name, String... labelFragments) {
        Pattern line = Pattern.compile("^" + Pattern.quote(name) + "(\\{[^}]*})? ([-+0-9.eE]+|NaN)$", Pattern.MULTILINE);
        Matcher m = line.matcher(scrape);
        while (m.find()) {
            String labels = m.group(1) == null ? "" : m.group(1);
            boolean all = true;
            for (String f : labelFragments) {
                all &= labels.contains(f);
            }
            if (all) {
                return Double.parseDouble(m.group(2));
            }
        }
        throw new AssertionError("no sample " + name + " with " + List.of(labelFragments) + " in:\n" + scrape);
    }

    private String scrape() {
        return RestAssured.given().port(port).get("/q/metrics").then().statusCode(200).extract().asString();
    }

    @Test
    void poolNodeAndAllocationMetricsFollowNodes() {
        String before = scrape();
        assertEquals(256, sample(before, "weft_ipam_pool_blocks", V4, "state=\"total\""), "a /16 pool of /24 blocks");
        assertEquals(1, sample(before, "weft_ipam_pool_blocks", V4, "state=\"reserved\""), "10.10.0.0/24 is reserved in the test profile");
        double allocated = sample(before, "weft_ipam_pool_blocks", V4, "state=\"allocated\"");
        double allocations = sample(before, "weft_ipam_allocations_total");
        double nodes = sample(before, "weft_ipam_nodes", "state=\"ALLOCATED\"");
        assertEquals(1, sample(before, "weft_ipam_leader"), "the only replica leads");

        String a = TestNodes.unique("metrics-a");
        String b = TestNodes.unique("metrics-b");
        TestNodes.create(k8s, a);
        TestNodes.create(k8s, b);
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            String s = scrape();
            assertEquals(allocated + 2, sample(s, "weft_ipam_pool_blocks", V4, "state=\"allocated\""), s);
            assertEquals(nodes + 2, sample(s, "weft_ipam_nodes", "state=\"ALLOCATED\""));
            assertEquals(allocations + 2, sample(s, "weft_ipam_allocations_total"));
        });
        String during = scrape();
        double total = sample(during, "weft_ipam_pool_blocks", V4, "state=\"total\"");
        assertEquals(total, sample(during, "weft_ipam_pool_blocks", V4, "state=\"allocated\"")
                + sample(during, "weft_ipam_pool_blocks", V4, "state=\"reserved\"")
                + sample(during, "weft_ipam_pool_blocks", V4, "state=\"free\""), "the states partition the pool");
        assertTrue(sample(during, "weft_ipam_pool_utilization", V4) > 0);

        k8s.nodes().withName(a).delete();
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            String s = scrape();
            assertEquals(allocated + 1, sample(s, "weft_ipam_pool_blocks", V4, "state=\"allocated\""));
            assertEquals(nodes + 1, sample(s, "weft_ipam_nodes", "state=\"ALLOCATED\""));
        });
        assertEquals(allocations + 2, sample(scrape(), "weft_ipam_allocations_total"), "a release is not an allocation");
        k8s.nodes().withName(b).delete();
    }

    @Test
    void reflectionListsTheIpamService() throws Exception {
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        try {
            CompletableFuture<ServerReflectionResponse> answer = new CompletableFuture<>();
            StreamObserver<ServerReflectionRequest> requests = ServerReflectionGrpc.newStub(channel)
                    .serverReflectionInfo(new StreamObserver<>() {
                        @Override
                        public void onNext(ServerReflectionResponse r) {
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
            requests.onNext(ServerReflectionRequest.newBuilder().setListServices("*").build());
            List<String> services = answer.get(30, TimeUnit.SECONDS).getListServicesResponse().getServiceList()
                    .stream().map(ServiceResponse::getName).toList();
            requests.onCompleted();
            assertTrue(services.contains("weft.ipam.v1.Ipam"), services.toString());
        } finally {
            channel.shutdownNow();
        }
    }
}
