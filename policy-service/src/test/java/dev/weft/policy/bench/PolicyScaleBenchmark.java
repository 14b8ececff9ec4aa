package dev.weft.policy.bench;

import dev.weft.policy.core.PolicyEngine;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyBuilder;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;

/**
 * Scale benchmark of the computation core on the three scenarios of Antrea's controller perf tests
 * (pkg/controller/networkpolicy/networkpolicy_controller_perf_test.go), with objects built the same way: pods on one
 * of 1,000 random nodes with a random IP, policies with policyTypes Ingress+Egress and one ingress rule.
 *
 * <p>All inputs are built first (they stand for the informer caches), then timed: feeding every object through the
 * informer handlers (namespaces, pods, policies) until every group, span and internal policy is computed. Run 1 of a
 * fresh JVM is cold; later runs use a fresh engine on the same inputs (warm JIT). Heap is measured after full GCs,
 * inputs included, with one engine alive.
 *
 * <p>Usage: {@code PolicyScaleBenchmark <a|b|c> [runs]}; see docs/policy-service.md for the Maven command.
 */
public final class PolicyScaleBenchmark {

    private final Random random = new Random(42);
    final List<Namespace> namespaces = new ArrayList<>();
    final List<Pod> pods = new ArrayList<>();
    final List<NetworkPolicy> policies = new ArrayList<>();

    public static void main(String[] args) {
        String scenario = args.length > 0 ? args[0] : "a";
        int runs = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        PolicyScaleBenchmark b = new PolicyScaleBenchmark();
        switch (scenario) {
            case "a" -> b.smallNamespaces();
            case "b" -> b.largeNamespaces();
            case "c" -> b.oneNamespace();
            default -> throw new IllegalArgumentException("scenario a, b or c");
        }
        long inputHeap = usedHeapAfterGc();
        System.out.printf("scenario %s: %d namespaces, %d pods, %d policies; inputs alone: %.0f MB heap; JVM %s, %d cpus, max heap %d MB%n",
                scenario, b.namespaces.size(), b.pods.size(), b.policies.size(), inputHeap / 1e6,
                Runtime.version(), Runtime.getRuntime().availableProcessors(), Runtime.getRuntime().maxMemory() >> 20);
        PolicyEngine kept = null;
        double best = Double.MAX_VALUE;
        for (int run = 1; run <= runs; run++) {
            kept = null;
            if (run > 1) {
                usedHeapAfterGc();
            }
            String load = loadAverage();
            long gc0 = gcMillis();
            long cpu0 = THREADS.getCurrentThreadCpuTime();
            long t0 = System.nanoTime();
            PolicyEngine engine = b.compute();
            long t1 = System.nanoTime();
            long cpu = THREADS.getCurrentThreadCpuTime() - cpu0;
            long gc = gcMillis() - gc0;
            double seconds = (t1 - t0) / 1e9;
            kept = engine;
            long heap = usedHeapAfterGc();
            if (run > 1) {
                best = Math.min(best, seconds);
            }
            System.out.printf("scenario %s run %d (%s): %.3f s wall, %.3f s cpu of the computing thread + %.3f s GC;"
                            + " heap in use after %.0f MB (engine %.0f MB); groups %d, policies %d [%s; load average before %s]%n",
                    scenario, run, run == 1 ? "cold" : "warm", seconds, cpu / 1e9, gc / 1e3, heap / 1e6,
                    (heap - inputHeap) / 1e6, engine.groups().size(), engine.policyCount(), b.phases, load);
            b.check(engine);
        }
        if (runs > 1) {
            System.out.printf("scenario %s best warm: %.3f s wall%n", scenario, best);
        }
        if (kept == null) {
            throw new IllegalStateException();
        }
    }

    /** The timed part: the same calls the informer handlers make. */
    PolicyEngine compute() {
        long t0 = System.nanoTime();
        PolicyEngine engine = new PolicyEngine();
        for (Namespace n : namespaces) {
            engine.onNamespace(n);
        }
        long t1 = System.nanoTime();
        for (Pod p : pods) {
            engine.onPod(p);
        }
        long t2 = System.nanoTime();
        for (NetworkPolicy np : policies) {
            engine.onPolicy(np);
        }
        long t3 = System.nanoTime();
        phases = String.format("namespaces %.3f s, pods %.3f s, policies %.3f s", (t1 - t0) / 1e9, (t2 - t1) / 1e9,
                (t3 - t2) / 1e9);
        return engine;
    }

    private String phases = "";

    /** Sanity check (untimed): everything computed, no error. */
    private void check(PolicyEngine engine) {
        if (engine.policyCount() != policies.size() || engine.podCount() != pods.size()) {
            throw new IllegalStateException("not everything computed");
        }
        long errors = engine.invalidPolicyCount();
        if (errors > 0) {
            throw new IllegalStateException(errors + " policies in error");
        }
    }

    private static final java.lang.management.ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    /** The machine is shared: wall time alone says little when the load exceeds the cores. */
    static String loadAverage() {
        try {
            String[] f = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (java.io.IOException | RuntimeException e) {
            return "n/a";
        }
    }

    static long gcMillis() {
        long ms = 0;
        for (var gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            ms += Math.max(0, gc.getCollectionTime());
        }
        return ms;
    }

    static long usedHeapAfterGc() {
        var mem = ManagementFactory.getMemoryMXBean();
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        return mem.getHeapMemoryUsage().getUsed();
    }

    // -------------------------------------------------------------------------------- scenarios (as Antrea builds them)

    /** (a) 25,000 namespaces x (4 pods, 3 policies). */
    void smallNamespaces() {
        for (int i = 0; i < 25_000; i++) {
            String ns = randomString(8);
            namespaces.add(namespace(ns));
            policies.add(policy(ns, "default-deny-all", null, null));
            policies.add(policy(ns, "np-1", Map.of("app-1", "scale-1"), Map.of("app-1", "scale-1")));
            policies.add(policy(ns, "np-2", Map.of("app-2", "scale-2"), Map.of("app-2", "scale-2")));
            pods.add(pod(ns, "pod1", Map.of("app-1", "scale-1")));
            pods.add(pod(ns, "pod2", Map.of("app-1", "scale-1")));
            pods.add(pod(ns, "pod3", Map.of("app-2", "scale-2")));
            pods.add(pod(ns, "pod4", Map.of("app-2", "scale-2")));
        }
    }

    /** (b) 100 namespaces x (1,000 pods in 100 label groups, 101 policies). */
    void largeNamespaces() {
        for (int n = 0; n < 100; n++) {
            String ns = randomString(8);
            namespaces.add(namespace(ns));
            policies.add(policy(ns, "default-deny-all", null, null));
            for (int i = 0; i < 100; i++) {
                Map<String, String> labels = Map.of("app-" + i, "scale-" + i);
                policies.add(policy(ns, "np-" + i, labels, labels));
                for (int j = 0; j < 10; j++) {
                    pods.add(pod(ns, "pod-" + i + "-" + j, labels));
                }
            }
        }
    }

    /** (c) 1 namespace, 10,000 pods, 10,000 policies all selecting them, ingress from them. */
    void oneNamespace() {
        String ns = randomString(8);
        namespaces.add(namespace(ns));
        Map<String, String> labels = Map.of("app-1", "scale-1");
        for (int i = 0; i < 10_000; i++) {
            policies.add(policy(ns, "np-" + randomString(8), labels, labels));
            pods.add(pod(ns, "pod-" + randomString(8), labels));
        }
    }

    private String randomString(int n) {
        StringBuilder b = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            b.append((char) ('a' + random.nextInt(26)));
        }
        return b.toString();
    }

    private Namespace namespace(String name) {
        return new NamespaceBuilder().withNewMetadata().withName(name).withLabels(Map.of("app", name)).endMetadata().build();
    }

    private Pod pod(String ns, String name, Map<String, String> labels) {
        String ip = random.nextInt(256) + "." + random.nextInt(256) + "." + random.nextInt(256) + "." + random.nextInt(256);
        return new PodBuilder().withNewMetadata().withNamespace(ns).withName(name).withUid(UUID.randomUUID().toString())
                .withLabels(labels).endMetadata()
                .withNewSpec().withNodeName("Node-" + random.nextInt(1000)).withHostNetwork(false).endSpec()
                .withNewStatus().withPodIP(ip).addNewPodIP().withIp(ip).endPodIP().endStatus()
                .build();
    }

    private NetworkPolicy policy(String ns, String name, Map<String, String> podSelector, Map<String, String> ingressFrom) {
        NetworkPolicyBuilder b = new NetworkPolicyBuilder().withNewMetadata().withNamespace(ns).withName(name)
                .withUid(UUID.randomUUID().toString()).endMetadata()
                .withNewSpec().withPodSelector(new LabelSelector(null, podSelector))
                .withPolicyTypes("Ingress", "Egress").endSpec();
        if (ingressFrom != null) {
            b.editSpec().addNewIngress().addNewFrom().withPodSelector(new LabelSelector(null, ingressFrom)).endFrom()
                    .endIngress().endSpec();
        }
        return b.build();
    }
}
