package dev.weft.localcluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.Watch;
import io.fabric8.kubernetes.client.Watcher;
import io.fabric8.kubernetes.client.WatcherException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Pod start as a user feels it, on a 3-node local cluster: a Pod with {@code nodeName} set is created through the API
 * and timed until a watch sees it Running with an IP (the local kubelet runs the real CNI plugin, {@code weft-cni},
 * against the real agent and Open vSwitch). Also prints the CNI ADD alone, plugin exec to result, as the kubelet
 * measured it for the same pods. Pods are created one after another (the next once the previous runs), like a
 * Deployment's pods arriving on a node. Prints BENCH lines; no assertion on the figures.
 *
 * <p>Run: {@code ./mvnw -B -pl integration-tests verify -Dit.test=PodStartBench -Dtest=none
 * -Dsurefire.failIfNoSpecifiedTests=false} (after {@code ./mvnw -q install -DskipTests}); {@code -Dweft.bench.pods=N}
 * (default 40 measured, after 5 warm-up pods).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PodStartBench {
    private static final int PODS = Integer.getInteger("weft.bench.pods", 40);
    private static final int WARMUP = 5;
    private static final ObjectMapper JSON = new ObjectMapper();

    private Cli cli;
    private Layout layout;
    private KubernetesClient client;
    /** pod name -> nanoTime a watch first saw it Running with an IP. */
    private final Map<String, Long> runningAt = new ConcurrentHashMap<>();
    private Watch watch;

    @BeforeAll
    void up() {
        Cli.requireRootAndOvs();
        cli = new Cli("podstart");
        cli.ok("up", "--nodes", "3");
        cli.ok("apply", "-f", cli.write("ps.yaml", Conformance.namespace("ps")).toString());
        layout = new Layout(cli.home, cli.repo);
        ClusterState cluster = layout.readCluster().orElseThrow();
        client = Kube.client(cluster.apiUrl());
        watch = client.pods().inNamespace("ps").watch(new Watcher<>() {
            @Override
            public void eventReceived(Action action, Pod pod) {
                if (action != Action.DELETED && pod.getStatus() != null && "Running".equals(pod.getStatus().getPhase())
                        && pod.getStatus().getPodIP() != null && !pod.getStatus().getPodIP().isEmpty()) {
                    runningAt.putIfAbsent(pod.getMetadata().getName(), System.nanoTime());
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

    @Test
    void podStartLatency() throws IOException {
        List<Double> toRunning = new ArrayList<>();
        List<Double> cniAdd = new ArrayList<>();
        for (int i = 0; i < WARMUP + PODS; i++) {
            String name = "p" + i;
            String node = "node" + (1 + i % 3);
            Pod pod = new PodBuilder().withNewMetadata().withNamespace("ps").withName(name).addToLabels("app", "ps").endMetadata()
                    .withNewSpec().withNodeName(node).addNewContainer().withName("c").withImage("registry.k8s.io/pause:3.10")
                    .addNewPort().withContainerPort(80).withProtocol("TCP").endPort().endContainer().endSpec().build();
            long t0 = System.nanoTime();
            client.resource(pod).create();
            long deadline = t0 + TimeUnit.SECONDS.toNanos(60);
            while (!runningAt.containsKey(name)) {
                if (System.nanoTime() > deadline) {
                    fail("pod ps/" + name + " on " + node + " not Running with an IP within 60 s");
                }
                Procs.sleep(1);
            }
            if (i >= WARMUP) {
                toRunning.add((runningAt.get(name) - t0) / 1e6);
                cniAdd.add(cniAddMillis(name));
            }
        }
        System.out.printf("BENCH pod-start created -> Running with IP (%d pods, sequential, 3 nodes): %s%n", PODS,
                stats(toRunning));
        System.out.printf("BENCH pod-start CNI ADD, plugin exec -> result (same pods): %s%n", stats(cniAdd));
        assertTrue(toRunning.size() == PODS, "every measured pod started");
    }

    private double cniAddMillis(String name) throws IOException {
        Path record = layout.pods().resolve(PodRecord.fileName("ps", name));
        JsonNode r = JSON.readTree(Files.readString(record));
        long micros = r.path("cniAddMicros").asLong(0);
        assertTrue(micros > 0, "the kubelet recorded the CNI ADD of ps/" + name + ": " + record);
        return micros / 1000.0;
    }

    private static String stats(List<Double> ms) {
        List<Double> s = ms.stream().sorted().toList();
        return String.format("p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, min %.1f, max %.1f", pct(s, 50), pct(s, 90), pct(s, 99),
                s.getFirst(), s.getLast());
    }

    private static double pct(List<Double> sorted, int p) {
        int idx = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, idx)));
    }
}
