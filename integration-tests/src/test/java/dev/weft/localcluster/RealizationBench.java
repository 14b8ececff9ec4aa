package dev.weft.localcluster;

import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Policy realization as a user feels it, on a 3-node local cluster: a NetworkPolicy is created through the API, and we
 * time (a) until its {@code weft.dev/realization} annotation says every node of its span realized its generation, and
 * (b) until the datapath actually drops: a client pod on another node probes the selected pod back to back (each probe
 * a new TCP connection) and the first probe that fails marks the moment. Measured with no other policy and with 1,000
 * background policies in force on every node. Prints BENCH lines; no assertion on the figures.
 *
 * <p>Run: {@code ./mvnw -B -pl integration-tests verify -Dit.test=RealizationBench -Dtest=none
 * -Dsurefire.failIfNoSpecifiedTests=false} (after {@code ./mvnw -q install -DskipTests}); {@code -Dweft.bench.rounds=N}
 * (default 40), {@code -Dweft.bench.background=N} (default 1000).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RealizationBench {
    private static final int ROUNDS = Integer.getInteger("weft.bench.rounds", 40);
    private static final int BACKGROUND = Integer.getInteger("weft.bench.background", 1000);
    private static final int WARMUP = 5;

    private Cli cli;
    private KubernetesClient client;
    private Probes.Target target;
    private Probes.Target prober;
    /** policy name -> nanoTime the annotation first said realized on every span node at the current generation. */
    private final Map<String, Long> realizedAt = new ConcurrentHashMap<>();
    private Watch watch;

    @BeforeAll
    void up() {
        Cli.requireRootAndOvs();
        cli = new Cli("realization");
        cli.ok("up", "--nodes", "3");
        cli.ok("apply", "-f", cli.write("rb.yaml", Conformance.namespace("rb") + Conformance.pod("rb", "target", "node2")
                + Conformance.pod("rb", "client", "node1") + Conformance.namespace("bg")
                + Conformance.pod("bg", "bg-0", "node1") + Conformance.pod("bg", "bg-1", "node2")
                + Conformance.pod("bg", "bg-2", "node3")).toString());
        Layout layout = new Layout(cli.home, cli.repo);
        ClusterState cluster = layout.readCluster().orElseThrow();
        client = Kube.client(cluster.apiUrl());
        Probes probes = new Probes(layout);
        target = probes.find(client, "rb/target");
        prober = probes.find(client, "rb/client");
        watch = client.network().v1().networkPolicies().inAnyNamespace().watch(new Watcher<>() {
            @Override
            public void eventReceived(Action action, NetworkPolicy np) {
                if (action != Action.DELETED && realized(np)) {
                    realizedAt.putIfAbsent(np.getMetadata().getName(), System.nanoTime());
                }
            }

            @Override
            public void onClose(WatcherException cause) {
            }
        });
    }

    @AfterAll
    void down() {
        if (watch != null) {
            watch.close();
        }
        if (client != null) {
            client.close();
        }
        if (cli != null) {
            cli.run("down");
        }
    }

    private static boolean realized(NetworkPolicy np) {
        Map<String, String> a = np.getMetadata().getAnnotations();
        if (a == null || a.get("weft.dev/realization") == null) {
            return false;
        }
        String[] r = a.get("weft.dev/realization").split("/");
        return r.length == 2 && r[0].equals(r[1]) && !r[0].equals("0")
                && String.valueOf(np.getMetadata().getGeneration()).equals(a.get("weft.dev/realization-generation"));
    }

    private boolean reachable() {
        return Probes.probe(prober, target, "TCP", 80, 200).ok();
    }

    @Test
    void realizationLatency() throws Exception {
        measure("0 background policies");
        createBackground();
        measure(BACKGROUND + " background policies");
    }

    private void createBackground() {
        long t0 = System.nanoTime();
        for (int i = 0; i < BACKGROUND; i++) {
            client.resource(new NetworkPolicyBuilder().withNewMetadata().withNamespace("bg").withName("bg-" + i).endMetadata()
                    .withNewSpec().withNewPodSelector().addToMatchLabels("pod", "bg-" + (i % 3)).endPodSelector()
                    .addNewIngress().addNewFrom().withNewPodSelector().addToMatchLabels("client", "c" + i).endPodSelector()
                    .endFrom().addNewPort().withProtocol("TCP").withNewPort(8000 + i % 1000).endPort().endIngress()
                    .withPolicyTypes("Ingress").endSpec().build()).create();
        }
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        while (true) {
            long done = realizedAt.keySet().stream().filter(n -> n.startsWith("bg-")).count();
            if (done == BACKGROUND) {
                break;
            }
            if (System.nanoTime() > deadline) {
                fail("background policies realized: " + done + "/" + BACKGROUND);
            }
            Procs.sleep(50);
        }
        System.out.printf("BENCH realization background: %d policies created and realized on their nodes in %.1f s%n",
                BACKGROUND, (System.nanoTime() - t0) / 1e9);
    }

    private void measure(String label) {
        assertTrue(reachable(), "rb/client reaches rb/target before any policy");
        List<Double> toAnnotation = new ArrayList<>();
        List<Double> toDrop = new ArrayList<>();
        for (int round = 0; round < WARMUP + ROUNDS; round++) {
            String name = "deny-" + label.charAt(0) + "-" + round;
            AtomicLong firstDrop = new AtomicLong();
            long t0 = System.nanoTime();
            client.resource(new NetworkPolicyBuilder().withNewMetadata().withNamespace("rb").withName(name).endMetadata()
                    .withNewSpec().withNewPodSelector().addToMatchLabels("pod", "target").endPodSelector()
                    .withPolicyTypes("Ingress").endSpec().build()).create();
            long deadline = t0 + TimeUnit.SECONDS.toNanos(30);
            while (firstDrop.get() == 0 || !realizedAt.containsKey(name)) {
                if (firstDrop.get() == 0) {
                    long sent = System.nanoTime();
                    if (!reachable()) {
                        firstDrop.set(sent);
                    }
                } else {
                    Procs.sleep(1);
                }
                if (System.nanoTime() > deadline) {
                    fail(name + ": not realized/dropping after 30 s (realized " + realizedAt.containsKey(name)
                            + ", dropping " + (firstDrop.get() != 0) + ")");
                }
            }
            if (round >= WARMUP) {
                toAnnotation.add((realizedAt.get(name) - t0) / 1e6);
                toDrop.add((firstDrop.get() - t0) / 1e6);
            }
            client.network().v1().networkPolicies().inNamespace("rb").withName(name).delete();
            long back = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!reachable()) {
                if (System.nanoTime() > back) {
                    fail(name + " deleted but rb/target still unreachable after 30 s");
                }
            }
        }
        System.out.printf("BENCH realization (%s, %d rounds): created -> annotation N/N p50 %.0f ms p90 %.0f ms p99 %.0f ms;"
                        + " created -> first dropped probe p50 %.0f ms p90 %.0f ms p99 %.0f ms (load %s)%n", label, ROUNDS,
                pct(toAnnotation, 50), pct(toAnnotation, 90), pct(toAnnotation, 99), pct(toDrop, 50), pct(toDrop, 90),
                pct(toDrop, 99), load());
    }

    private static double pct(List<Double> values, int p) {
        double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return v[Math.min(v.length - 1, (int) Math.ceil(p / 100.0 * v.length) - 1)];
    }

    private static String load() {
        try {
            return Arrays.stream(java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).split(" "))
                    .limit(3).reduce((a, b) -> a + " " + b).orElse("?");
        } catch (java.io.IOException e) {
            return "?";
        }
    }
}
