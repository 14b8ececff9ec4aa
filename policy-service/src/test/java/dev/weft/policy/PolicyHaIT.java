package dev.weft.policy;

import dev.weft.policy.status.StatusPublisher;
import dev.weft.proto.controlplane.v1.ControlPlaneGrpc;
import dev.weft.proto.controlplane.v1.NetworkPolicy;
import dev.weft.proto.controlplane.v1.NodeRealizationReport;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyRealization;
import dev.weft.proto.controlplane.v1.WatchPoliciesRequest;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

import static dev.weft.policy.K8s.*;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * policy-service HA with the packaged service: two replicas (processes) against one mock API server, four agents on
 * real gRPC streams split between them, reporting what they receive. During continuous policy updates the leader is
 * SIGKILLed. Its agents reconnect to the survivor within the lease duration, no update is lost on any agent's stream,
 * the survivor takes the Lease and writes every policy's realization (4/4 at its final generation) from the reports
 * of all agents, including those it got forwarded while it was a follower. Runs in the integration-test phase.
 */
class PolicyHaIT {
    private static final Duration LEASE = Duration.ofSeconds(4);
    private static final int NODES = 4;
    private static final int POLICIES = 5;
    private static final int UPDATES = 60;

    /** One replica process. */
    record Replica(Process process, int port, String address) {
    }

    /** A test agent: follows one replica, fails over to the other, reports realized what it holds. */
    static final class HaAgent {
        final String node;
        final List<Integer> ports;
        final ExecutorService reporter = Executors.newSingleThreadExecutor();
        volatile AgentView view = new AgentView();
        volatile int replica;
        volatile ManagedChannel channel;
        volatile long lostAtNanos;
        volatile long maxStallNanos;
        volatile Throwable error;

        HaAgent(String node, List<Integer> ports, int replica) {
            this.node = node;
            this.ports = ports;
            this.replica = replica;
        }

        void connect() {
            channel = ManagedChannelBuilder.forAddress("127.0.0.1", ports.get(replica)).usePlaintext().build();
            AgentView v = new AgentView();
            view = v;
            ManagedChannel ch = channel;
            ControlPlaneGrpc.newStub(ch).watchPolicies(WatchPoliciesRequest.newBuilder().setNodeName(node)
                    .setAgentId("ha-" + node).build(), new StreamObserver<>() {
                @Override
                public void onNext(PolicyEvent e) {
                    try {
                        v.apply(e);
                    } catch (AssertionError ae) {
                        error = ae;
                    }
                    if (v.synced) {
                        if (lostAtNanos != 0) {
                            maxStallNanos = Math.max(maxStallNanos, System.nanoTime() - lostAtNanos);
                            lostAtNanos = 0;
                        }
                        report(ch, v);
                    }
                }

                @Override
                public void onError(Throwable t) {
                    failOver();
                }

                @Override
                public void onCompleted() {
                    failOver();
                }
            });
        }

        private void failOver() {
            lostAtNanos = System.nanoTime();
            channel.shutdownNow();
            replica = 1 - replica; // as a Service would: the next connection lands on a live replica
            connect();
        }

        private void report(ManagedChannel ch, AgentView v) {
            NodeRealizationReport.Builder r = NodeRealizationReport.newBuilder().setNodeName(node);
            synchronized (v) {
                v.policies.forEach((name, p) -> r.addPolicies(PolicyRealization.newBuilder().setPolicyName(name)
                        .setGeneration(p.getSource().getGeneration()).setRealized(true)));
            }
            NodeRealizationReport report = r.build();
            reporter.execute(() -> {
                try {
                    ControlPlaneGrpc.newBlockingStub(ch).withDeadlineAfter(5, TimeUnit.SECONDS).reportStatus(report);
                } catch (RuntimeException e) {
                    // the replica died: the next connection reports again
                }
            });
        }

        void close() {
            reporter.shutdownNow();
            channel.shutdownNow();
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static Replica start(Path jar, int apiPort, Path log) throws IOException {
        int port = freePort();
        String address = "127.0.0.1:" + port;
        List<String> cmd = List.of(ProcessHandle.current().info().command().orElse("java"),
                "-Xmx256m", "-Dquarkus.http.port=" + port,
                "-Dquarkus.kubernetes-client.api-server-url=http://127.0.0.1:" + apiPort,
                "-Dpolicy.advertise-address=" + address,
                "-Dpolicy.status-interval=200ms",
                // Its test agents carry no tokens: caller identity is CallerAuthTest's and the local cluster's subject.
                "-Dweft.auth.enabled=false",
                "-Dpolicy.leader-election.lease-duration=" + LEASE.toSeconds() + "s",
                "-Dpolicy.leader-election.renew-deadline=3s",
                "-Dpolicy.leader-election.retry-period=500ms",
                // This IT is about failover; TLS across rotation is ServingTlsTest's. Plaintext replicas here.
                "-Dweft.tls.enabled=false", "-Dquarkus.http.tls-configuration-name=",
                "-Dquarkus.http.insecure-requests=enabled",
                "-jar", jar.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        return new Replica(p, port, address);
    }

    private static void awaitReady(HttpClient http, Replica r) {
        await().atMost(Duration.ofSeconds(90)).until(() -> {
            if (!r.process().isAlive()) {
                fail("replica on " + r.address() + " exited");
            }
            try {
                return http.send(HttpRequest.newBuilder(URI.create("http://" + r.address() + "/q/health/ready")).build(),
                        HttpResponse.BodyHandlers.ofString()).statusCode() == 200;
            } catch (IOException e) {
                return false;
            }
        });
    }

    private static String holder(KubernetesClient k8s) {
        Lease l = k8s.leases().inNamespace("kube-system").withName("weft-policy").get();
        return l == null || l.getSpec() == null || l.getSpec().getHolderIdentity() == null ? "" : l.getSpec().getHolderIdentity();
    }

    /** A spec edit as a user makes it: read, change, write with the resourceVersion, again on a conflict. */
    private static void setPort(KubernetesClient k8s, String name, int port) {
        for (int attempt = 0; ; attempt++) {
            try {
                k8s.network().v1().networkPolicies().inNamespace("ha").withName(name).edit(np -> {
                    np.getSpec().getIngress().getFirst().getPorts().getFirst()
                            .setPort(new io.fabric8.kubernetes.api.model.IntOrString(port));
                    return np;
                });
                return;
            } catch (io.fabric8.kubernetes.client.KubernetesClientException e) {
                if (e.getCode() != 409 || attempt == 10) {
                    throw e;
                }
            }
        }
    }

    @Test
    void killingTheLeaderDuringChurnStallsNoAgentBeyondTheLeaseAndLosesNoUpdate() throws Exception {
        Path jar = Path.of("target", "quarkus-app", "quarkus-run.jar").toAbsolutePath();
        if (!Files.isRegularFile(jar)) {
            fail("policy-service is not packaged: " + jar);
        }
        Path dir = Files.createTempDirectory("weft-policy-ha-it-");
        KubernetesMockServer api = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(List.of()), false);
        int apiPort = freePort();
        api.init(InetAddress.getLoopbackAddress(), apiPort);
        List<Replica> replicas = new ArrayList<>();
        List<HaAgent> agents = new ArrayList<>();
        HttpClient http = HttpClient.newHttpClient();
        try (KubernetesClient k8s = api.createClient()) {
            k8s.resource(namespace("ha", "")).create();
            for (int n = 1; n <= NODES; n++) {
                k8s.resource(pod("ha", "web-" + n, "app=web", "n" + n, "10.20." + n + ".5")).create();
            }
            for (int i = 0; i < POLICIES; i++) {
                k8s.resource(ingressPolicy("ha", "p" + i, sel("app=web"), List.of(), List.of(port("TCP", 1000, null)))).create();
            }
            replicas.add(start(jar, apiPort, dir.resolve("replica-0.log")));
            replicas.add(start(jar, apiPort, dir.resolve("replica-1.log")));
            replicas.forEach(r -> awaitReady(http, r));
            await().atMost(Duration.ofSeconds(30)).until(() -> !holder(k8s).isEmpty());

            List<Integer> ports = replicas.stream().map(Replica::port).toList();
            for (int n = 1; n <= NODES; n++) {
                HaAgent a = new HaAgent("n" + n, ports, n % 2);
                a.connect();
                agents.add(a);
            }
            await().atMost(Duration.ofSeconds(30)).until(() -> agents.stream().allMatch(a -> a.view.synced
                    && a.view.policies.size() == POLICIES));

            // Churn: every update changes one policy's port; half-way the leader is killed.
            int leader = holder(k8s).startsWith(replicas.get(0).address() + "#") ? 0 : 1;
            long killedAt = 0;
            for (int u = 1; u <= UPDATES; u++) {
                int port = 1000 + u;
                setPort(k8s, "p" + (u % POLICIES), port);
                if (u == UPDATES / 2) {
                    replicas.get(leader).process().destroyForcibly(); // SIGKILL: no Lease release
                    killedAt = System.nanoTime();
                }
                Thread.sleep(50); // a pace, not a wait for anything: policy churn of 20 updates per second
            }
            Replica survivor = replicas.get(1 - leader);

            // No update lost: every agent ends with every policy's final port...
            Map<String, Integer> finalPorts = new HashMap<>();
            for (var np : k8s.network().v1().networkPolicies().inNamespace("ha").list().getItems()) {
                finalPorts.put(np.getMetadata().getUid(), np.getSpec().getIngress().getFirst().getPorts().getFirst().getPort().getIntVal());
            }
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                for (HaAgent a : agents) {
                    Map<String, Integer> seen = new HashMap<>();
                    synchronized (a.view) {
                        for (Map.Entry<String, NetworkPolicy> e : a.view.policies.entrySet()) {
                            seen.put(e.getKey(), e.getValue().getRules(0).getServices(0).getPortNumber());
                        }
                    }
                    assertEquals(finalPorts, seen, "agent " + a.node);
                }
            });
            // ...and the survivor leads and writes every policy realized on all 4 nodes at its final generation.
            await().atMost(LEASE.multipliedBy(3)).until(() -> holder(k8s).startsWith(survivor.address() + "#"));
            await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
                for (var np : k8s.network().v1().networkPolicies().inNamespace("ha").list().getItems()) {
                    Map<String, String> ann = np.getMetadata().getAnnotations();
                    assertEquals(NODES + "/" + NODES, ann == null ? null : ann.get(StatusPublisher.REALIZATION), np.getMetadata().getName());
                    assertEquals(String.valueOf(np.getMetadata().getGeneration()), ann.get(StatusPublisher.REALIZATION_GENERATION));
                }
            });
            for (HaAgent a : agents) {
                assertTrue(a.error == null, a.node + ": " + a.error);
                assertTrue(a.maxStallNanos < LEASE.toNanos(), a.node + " stalled " + a.maxStallNanos / 1_000_000 + " ms");
            }
            long stalled = agents.stream().filter(a -> a.maxStallNanos > 0).count();
            assertEquals(NODES / 2, stalled, "the killed leader's agents failed over, the others never noticed");
            System.out.printf("HA: leader killed after %d of %d updates; %d agents failed over, max stall %d ms (lease %d s); "
                            + "survivor leading and every check passed %d ms after the kill%n", UPDATES / 2, UPDATES, stalled,
                    agents.stream().mapToLong(a -> a.maxStallNanos).max().orElse(0) / 1_000_000, LEASE.toSeconds(),
                    (System.nanoTime() - killedAt) / 1_000_000);
        } finally {
            agents.forEach(HaAgent::close);
            for (Replica r : replicas) {
                r.process().destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            api.destroy();
        }
    }
}
