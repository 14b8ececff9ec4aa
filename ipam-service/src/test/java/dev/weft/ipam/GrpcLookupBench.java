package dev.weft.ipam;

import dev.weft.net.IpPrefix;
import dev.weft.proto.ipam.v1.IpamGrpc;
import dev.weft.proto.ipam.v1.LookupIpRequest;
import dev.weft.proto.ipam.v1.LookupIpResponse;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * End-to-end figures against the running service (run with -Pbench): Nodes created in the Kubernetes test server are
 * allocated by the leader, then a gRPC client on a loopback channel asks who owns random pod IPs. Prints
 * lookups/s and latency percentiles; bounded in count and time.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@TestProfile(GrpcLookupBench.LargePools.class)
class GrpcLookupBench {

    /** The pools of the in-process figures: a /8 and a /48. */
    public static class LargePools implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("ipam.cluster-cidrs", "10.0.0.0/8,fd00:10::/48");
        }
    }

    private static final int NODES = 1_000;
    private static final int WARMUP = 20_000;
    private static final int CALLS = 100_000;

    @Inject
    KubernetesClient k8s;

    @Inject
    NodeCidrAllocator allocator;

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    private static void print(String line) {
        System.out.println("BENCH " + line);
    }

    @Test
    void whoOwnsIpOverGrpc() throws Exception {
        long t0 = System.nanoTime();
        for (int i = 0; i < NODES; i++) {
            k8s.nodes().resource(new NodeBuilder().withNewMetadata().withName(String.format("bench-%05d", i))
                    .endMetadata().build()).create();
        }
        long created = System.nanoTime();
        await().atMost(Duration.ofMinutes(3)).pollInterval(Duration.ofMillis(50))
                .until(() -> allocator.waitingNodes().isEmpty() && allocator.size() >= NODES);
        long allocated = System.nanoTime();
        print(String.format("through the Kubernetes test server: %d Nodes created in %.0f ms, all allocated (dual-stack, written back) %.0f ms after the first create = %.2f ms/node",
                NODES, (created - t0) / 1e6, (allocated - t0) / 1e6, (allocated - t0) / 1e6 / NODES));

        List<String> ips = new ArrayList<>();
        Random rnd = new Random(3);
        for (NodeCidrAllocator.NodeCidrs n : allocator.list()) {
            for (IpPrefix c : n.cidrs()) {
                ips.add(c.address(1 + rnd.nextInt(200)).toString());
            }
        }
        ManagedChannel ch = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
        try {
            IpamGrpc.IpamBlockingStub stub = IpamGrpc.newBlockingStub(ch);
            for (int i = 0; i < WARMUP; i++) {
                stub.lookupIp(LookupIpRequest.newBuilder().setIp(ips.get(i % ips.size())).build());
            }
            for (int threads : new int[] {1, 4}) {
                run(ch, ips, threads);
            }
        } finally {
            ch.shutdownNow();
            ch.awaitTermination(5, TimeUnit.SECONDS);
        }
    }

    private void run(ManagedChannel ch, List<String> ips, int threads) throws Exception {
        int perThread = CALLS / threads;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        List<Future<long[]>> results = new ArrayList<>();
        long start = System.nanoTime();
        for (int t = 0; t < threads; t++) {
            int offset = t * 7919;
            results.add(pool.submit(() -> {
                IpamGrpc.IpamBlockingStub stub = IpamGrpc.newBlockingStub(ch);
                long[] lat = new long[perThread];
                for (int i = 0; i < perThread; i++) {
                    String ip = ips.get((offset + i) % ips.size());
                    long s = System.nanoTime();
                    LookupIpResponse r = stub.withDeadlineAfter(5, TimeUnit.SECONDS)
                            .lookupIp(LookupIpRequest.newBuilder().setIp(ip).build());
                    lat[i] = System.nanoTime() - s;
                    if (r.getNodeName().isEmpty()) {
                        throw new AssertionError("no owner for " + ip);
                    }
                }
                return lat;
            }));
        }
        long[] all = new long[perThread * threads];
        int k = 0;
        for (Future<long[]> f : results) {
            long[] lat = f.get(5, TimeUnit.MINUTES);
            System.arraycopy(lat, 0, all, k, lat.length);
            k += lat.length;
        }
        long elapsed = System.nanoTime() - start;
        pool.shutdown();
        assertEquals(all.length, k);
        Arrays.sort(all);
        print(String.format("gRPC LookupIp over loopback, %d client thread(s), %d calls: %.0f lookups/s; latency p50 %.0f us, p99 %.0f us, p99.9 %.0f us, max %.0f us",
                threads, all.length, all.length / (elapsed / 1e9), all[all.length / 2] / 1e3,
                all[(int) (all.length * 0.99)] / 1e3, all[(int) (all.length * 0.999)] / 1e3, all[all.length - 1] / 1e3));
    }
}
