package dev.weft.policy.bench;

import dev.weft.proto.controlplane.v1.ControlPlaneGrpc;
import dev.weft.proto.controlplane.v1.GroupMember;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.WatchPoliciesRequest;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.stub.StreamObserver;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * policy-service fan-out (issue 16): the packaged service as its own process, scenario (b) of the scale benchmark in
 * its API server, 1,000 agents (one per node of the scenario) on WatchPolicies streams over loopback gRPC, each
 * applying snapshot and patches to its own store. Prints, as {@code BENCH} lines: the time from the first stream
 * opened until every agent holds its full snapshot (and the snapshots' sizes), the service's RSS and heap with every
 * stream open, and for ~200 pod relabels (one at a time, a JSON patch through the API) the delay from the PATCH returning
 * until the last affected agent's store reflects it (p50/p99/max, agents affected, agents that received anything).
 *
 * <p>The service is a separate JVM so that its memory is measured alone (RSS from /proc, heap after a full GC from
 * its own /q/metrics). Agents: {@code fanout.channels} gRPC channels (default one per agent, as real agents each have
 * their own connection), callbacks on the channels' event loops. An agent is checked against the scenario after the
 * full sync (every policy whose applied-to pods run on its node, nothing else), and a relabel that an affected agent
 * has not applied within 60 s fails the run. Usage and figures: docs/benchmarks.md, "policy-service fan-out".
 */
public final class FanoutBenchmark {

    private static final int NODES = 1000;

    /** What one agent holds: group members by pod key, policies by uid; enough to check what a change did. */
    static final class Agent {
        final String node;
        final Map<String, Set<String>> addressGroups = new HashMap<>();
        final Map<String, Set<String>> appliedToGroups = new HashMap<>();
        /** uid -> "namespace/name" and the applied-to group. */
        final Map<String, String[]> policies = new HashMap<>();
        final CountDownLatch synced = new CountDownLatch(1);
        long syncedAtNanos;
        long snapshotEvents;
        long snapshotBytes;
        long events;
        volatile Throwable error;
        /** The change this agent must reflect, while it has not yet. */
        Change waitingFor;
        int lastChangeSeen;

        Agent(String node) {
            this.node = node;
        }

        synchronized void apply(PolicyEvent e) {
            events++;
            if (syncedAtNanos == 0) {
                snapshotEvents++;
                snapshotBytes += e.getSerializedSize();
            }
            switch (e.getType()) {
                case SYNC_COMPLETE -> {
                    syncedAtNanos = System.nanoTime();
                    synced.countDown();
                }
                case ADDED -> {
                    switch (e.getKind()) {
                        case ADDRESS_GROUP -> addressGroups.put(e.getName(), keys(e.getAddressGroup().getMembersList()));
                        case APPLIED_TO_GROUP -> appliedToGroups.put(e.getName(), keys(e.getAppliedToGroup().getMembersList()));
                        case NETWORK_POLICY -> policies.put(e.getName(), policy(e.getNetworkPolicy()));
                        default -> throw new IllegalStateException("bad kind " + e);
                    }
                }
                case MODIFIED -> {
                    switch (e.getKind()) {
                        case ADDRESS_GROUP -> patch(addressGroups, e);
                        case APPLIED_TO_GROUP -> patch(appliedToGroups, e);
                        case NETWORK_POLICY -> policies.put(e.getName(), policy(e.getNetworkPolicy()));
                        default -> throw new IllegalStateException("bad kind " + e);
                    }
                }
                case DELETED -> {
                    Object gone = switch (e.getKind()) {
                        case ADDRESS_GROUP -> addressGroups.remove(e.getName());
                        case APPLIED_TO_GROUP -> appliedToGroups.remove(e.getName());
                        case NETWORK_POLICY -> policies.remove(e.getName());
                        default -> throw new IllegalStateException("bad kind " + e);
                    };
                    if (gone == null) {
                        throw new IllegalStateException(node + ": DELETED unknown " + e.getKind() + " " + e.getName());
                    }
                }
                default -> throw new IllegalStateException("bad type " + e);
            }
            Change c = waitingFor;
            if (c != null) {
                if (lastChangeSeen != c.id) {
                    lastChangeSeen = c.id;
                    c.agentsReceiving.incrementAndGet();
                }
                if (c.reflectedBy(this)) {
                    waitingFor = null;
                    c.reflected(System.nanoTime());
                }
            }
        }

        /** Registers a change this agent must reflect (it does not yet: the PATCH is sent after this). */
        synchronized void await(Change c) {
            waitingFor = c;
        }

        synchronized void observe(Change c) {
            // Agents outside the affected set: count whether they receive anything during the change.
            if (waitingFor == null) {
                waitingFor = c.observeOnly;
            }
        }

        synchronized void stopObserving() {
            if (waitingFor != null && waitingFor.observeOnly == null) {
                waitingFor = null;
            }
        }

        private static Set<String> keys(List<GroupMember> members) {
            Set<String> s = new HashSet<>();
            members.forEach(m -> s.add(m.getPod().getNamespace() + "/" + m.getPod().getName()));
            return s;
        }

        private static String[] policy(dev.weft.proto.controlplane.v1.NetworkPolicy p) {
            return new String[]{p.getSource().getNamespace() + "/" + p.getSource().getName(),
                    p.getAppliedToGroupsCount() == 0 ? "" : p.getAppliedToGroups(0)};
        }

        private void patch(Map<String, Set<String>> groups, PolicyEvent e) {
            Set<String> g = groups.get(e.getName());
            if (g == null) {
                throw new IllegalStateException(node + ": patch for unknown group " + e.getName());
            }
            for (GroupMember m : e.getGroupPatch().getRemovedMembersList()) {
                g.remove(m.getPod().getNamespace() + "/" + m.getPod().getName());
            }
            for (GroupMember m : e.getGroupPatch().getAddedMembersList()) {
                g.add(m.getPod().getNamespace() + "/" + m.getPod().getName());
            }
        }

        boolean contains(Map<String, Set<String>> groups, String group, String pod) {
            Set<String> g = groups.get(group);
            return g != null && g.contains(pod);
        }
    }

    /**
     * One relabel of pod {@code pod} from label group {@code from} to {@code to} (group names as the service sent
     * them). Reflected by an agent when no group {@code from} it holds has the pod, its address group {@code to} has
     * the pod if the node is in the new span of that group's policy, and its applied-to group {@code to} has the pod
     * if the pod runs there.
     */
    static final class Change {
        final int id;
        final String pod;
        final String podNode;
        final String from;
        final String to;
        final Set<String> toSpan;
        final CountDownLatch done;
        final AtomicInteger agentsReceiving = new AtomicInteger();
        final AtomicLong lastReflected = new AtomicLong();
        /** The same change seen by agents outside the affected set: they only count as receiving. */
        final Change observeOnly;

        Change(int id, String pod, String podNode, String from, String to, Set<String> toSpan, int affected) {
            this.id = id;
            this.pod = pod;
            this.podNode = podNode;
            this.from = from;
            this.to = to;
            this.toSpan = toSpan;
            this.done = new CountDownLatch(affected);
            this.observeOnly = new Change(this);
        }

        private Change(Change of) {
            this.id = of.id;
            this.pod = of.pod;
            this.podNode = of.podNode;
            this.from = null;
            this.to = null;
            this.toSpan = Set.of();
            this.done = new CountDownLatch(0);
            this.observeOnly = null;
        }

        boolean reflectedBy(Agent a) {
            if (from == null) {
                return false;
            }
            if (a.contains(a.addressGroups, from, pod) || a.contains(a.appliedToGroups, from, pod)) {
                return false;
            }
            if (toSpan.contains(a.node) && !a.contains(a.addressGroups, to, pod)) {
                return false;
            }
            return !a.node.equals(podNode) || a.contains(a.appliedToGroups, to, pod);
        }

        void reflected(long at) {
            lastReflected.accumulateAndGet(at, Math::max);
            done.countDown();
        }
    }

    public static void main(String[] args) {
        // Exit explicitly: the API server's and gRPC's threads would keep the JVM (and Maven) alive after a failure.
        try {
            run();
        } catch (Throwable t) {
            t.printStackTrace();
            System.exit(1);
        }
        System.exit(0);
    }

    private static void run() throws Exception {
        int channelCount = Integer.getInteger("fanout.channels", NODES);
        int changes = Integer.getInteger("fanout.changes", 200);
        String serverJvm = System.getProperty("fanout.server-jvm", "-Xmx1g -XX:+UseSerialGC -Xss512k");
        Path jar = Path.of(System.getProperty("fanout.jar", "target/quarkus-app/quarkus-run.jar")).toAbsolutePath();
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException("policy-service is not packaged: " + jar);
        }

        PolicyScaleBenchmark scenario = new PolicyScaleBenchmark();
        scenario.largeNamespaces();
        System.out.printf("BENCH fanout scenario (b): %d namespaces, %d pods on %d nodes, %d policies; %d agents on %d channels;"
                        + " server JVM %s; load average %s%n", scenario.namespaces.size(), scenario.pods.size(), NODES,
                scenario.policies.size(), NODES, channelCount, serverJvm, PolicyScaleBenchmark.loadAverage());

        Path log = Files.createTempFile("weft-fanout-policy-service-", ".log");
        Process service = null;
        List<ManagedChannel> channels = new ArrayList<>();
        try (BenchApiServer api = new BenchApiServer()) {
            long l0 = System.nanoTime();
            api.load(scenario.namespaces, "namespaces", "/api/v1");
            api.load(scenario.pods, "pods", "/api/v1");
            api.load(scenario.policies, "networkpolicies", "/apis/networking.k8s.io/v1");
            System.out.printf("loaded the API server in %.1f s%n", (System.nanoTime() - l0) / 1e9);

            int port = freePort();
            List<String> cmd = new ArrayList<>();
            cmd.add(ProcessHandle.current().info().command().orElse("java"));
            cmd.addAll(Arrays.asList(serverJvm.trim().split("\\s+")));
            cmd.addAll(List.of("-Dquarkus.http.port=" + port,
                    "-Dquarkus.kubernetes-client.api-server-url=" + api.url(),
                    "-Dpolicy.advertise-address=127.0.0.1:" + port,
                    // No agent reports here: annotations would be 10,100 PATCHes of "0/N" competing with the figures.
                    "-Dpolicy.status-annotations=false",
                    "-jar", jar.toString()));
            long s0 = System.nanoTime();
            service = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            HttpClient http = HttpClient.newHttpClient();
            awaitReady(http, service, port, log);
            System.out.printf("BENCH fanout service ready (informers synced, everything computed) %.1f s after start;"
                    + " %s; load average %s%n", (System.nanoTime() - s0) / 1e9, memory(http, service, port),
                    PolicyScaleBenchmark.loadAverage());

            // ---------------------------------------------------------------- full sync of 1,000 agents
            for (int i = 0; i < channelCount; i++) {
                channels.add(ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().directExecutor()
                        .maxInboundMessageSize(64 << 20).build());
            }
            List<Agent> agents = new ArrayList<>();
            for (int n = 0; n < NODES; n++) {
                agents.add(new Agent("Node-" + n));
            }
            long t0 = System.nanoTime();
            for (int n = 0; n < NODES; n++) {
                Agent a = agents.get(n);
                ControlPlaneGrpc.newStub(channels.get(n % channelCount)).watchPolicies(WatchPoliciesRequest.newBuilder()
                        .setNodeName(a.node).setAgentId("fanout-" + n).build(), new StreamObserver<>() {
                    @Override
                    public void onNext(PolicyEvent e) {
                        try {
                            a.apply(e);
                        } catch (RuntimeException ex) {
                            a.error = ex;
                        }
                    }

                    @Override
                    public void onError(Throwable t) {
                        a.error = t;
                    }

                    @Override
                    public void onCompleted() {
                        a.error = new IllegalStateException("stream completed");
                    }
                });
            }
            for (Agent a : agents) {
                if (!a.synced.await(600, TimeUnit.SECONDS)) {
                    throw new IllegalStateException("agent " + a.node + " has no snapshot after 600 s; error " + a.error);
                }
            }
            long[] syncMs = agents.stream().mapToLong(a -> (a.syncedAtNanos - t0) / 1_000_000).sorted().toArray();
            long totalEvents = agents.stream().mapToLong(a -> a.snapshotEvents).sum();
            long totalBytes = agents.stream().mapToLong(a -> a.snapshotBytes).sum();
            long maxBytes = agents.stream().mapToLong(a -> a.snapshotBytes).max().orElse(0);
            System.out.printf("BENCH fanout full sync: %d agents hold their snapshot %.2f s after the first stream opened"
                            + " (per agent p50 %d ms, p99 %d ms, max %d ms); snapshots %d events, %.1f MB in all, per agent"
                            + " mean %d events / %.1f kB, max %.1f kB; harness GC so far %.1f s; load average %s%n", NODES, syncMs[syncMs.length - 1] / 1e3,
                    pct(syncMs, 50), pct(syncMs, 99), syncMs[syncMs.length - 1], totalEvents, totalBytes / 1e6,
                    totalEvents / NODES, totalBytes / 1e3 / NODES, maxBytes / 1e3, PolicyScaleBenchmark.gcMillis() / 1e3,
                    PolicyScaleBenchmark.loadAverage());
            checkSnapshots(scenario, agents);
            System.out.printf("BENCH fanout memory with %d streams open: %s; load average %s%n", NODES,
                    memory(http, service, port), PolicyScaleBenchmark.loadAverage());

            // ---------------------------------------------------------------- relabels
            relabels(api, scenario, agents, changes);
            System.out.printf("BENCH fanout memory after the relabels: %s%n", memory(http, service, port));
            for (Agent a : agents) {
                if (a.error != null) {
                    throw new IllegalStateException("agent " + a.node + ": " + a.error, a.error);
                }
            }
        } finally {
            channels.forEach(ManagedChannel::shutdownNow);
            if (service != null) {
                service.destroy();
                if (!service.waitFor(20, TimeUnit.SECONDS)) {
                    service.destroyForcibly();
                }
            }
            System.out.println("policy-service log: " + log);
        }
    }

    /** Every agent holds exactly the policies whose applied-to pods run on its node. */
    private static void checkSnapshots(PolicyScaleBenchmark scenario, List<Agent> agents) {
        Map<String, Set<String>> expected = new HashMap<>();
        for (Pod p : scenario.pods) {
            String ns = p.getMetadata().getNamespace();
            Set<String> s = expected.computeIfAbsent(p.getSpec().getNodeName(), x -> new TreeSet<>());
            s.add(ns + "/default-deny-all");
            s.add(ns + "/np-" + p.getMetadata().getLabels().keySet().iterator().next().substring("app-".length()));
        }
        for (Agent a : agents) {
            Set<String> held = new TreeSet<>();
            synchronized (a) {
                a.policies.values().forEach(p -> held.add(p[0]));
            }
            Set<String> want = expected.getOrDefault(a.node, Set.of());
            if (!held.equals(want)) {
                throw new IllegalStateException("agent " + a.node + " holds " + held.size() + " policies, expected "
                        + want.size());
            }
        }
    }

    private static void relabels(BenchApiServer api, PolicyScaleBenchmark scenario, List<Agent> agents, int changes)
            throws InterruptedException {
        // Group names as the service sent them: the applied-to group of np-i (the same group is its address group).
        Map<String, String> groupOf = new HashMap<>();
        for (Agent a : agents) {
            synchronized (a) {
                a.policies.values().forEach(p -> groupOf.put(p[0], p[1]));
            }
        }
        Map<String, Agent> byNode = new HashMap<>();
        agents.forEach(a -> byNode.put(a.node, a));
        // The harness' own model: the label group of every pod and the nodes of every label group's pods.
        Map<String, Integer> labelOf = new HashMap<>();
        Map<String, Map<String, Integer>> nodesOf = new HashMap<>(); // "ns/i" -> node -> pods
        for (Pod p : scenario.pods) {
            int i = Integer.parseInt(p.getMetadata().getLabels().keySet().iterator().next().substring("app-".length()));
            String key = p.getMetadata().getNamespace() + "/" + p.getMetadata().getName();
            labelOf.put(key, i);
            nodesOf.computeIfAbsent(p.getMetadata().getNamespace() + "/" + i, x -> new HashMap<>())
                    .merge(p.getSpec().getNodeName(), 1, Integer::sum);
        }
        Random random = new Random(7);
        long[] afterReturn = new long[changes];
        long[] afterSend = new long[changes];
        long[] patchMs = new long[changes];
        int[] affected = new int[changes];
        int[] receiving = new int[changes];
        String load0 = PolicyScaleBenchmark.loadAverage();
        // A loaded machine can take longer than the client's default 10 s: the PATCH time is printed, not a failure.
        try (KubernetesClient k8s = new io.fabric8.kubernetes.client.KubernetesClientBuilder().withConfig(
                new io.fabric8.kubernetes.client.ConfigBuilder(api.client().getConfiguration()).withRequestTimeout(120_000).build()).build()) {
            for (int c = 0; c < changes; c++) {
                Pod pod = scenario.pods.get(random.nextInt(scenario.pods.size()));
                String ns = pod.getMetadata().getNamespace();
                String name = pod.getMetadata().getName();
                String key = ns + "/" + name;
                String node = pod.getSpec().getNodeName();
                int from = labelOf.get(key);
                int to = (from + 1 + random.nextInt(99)) % 100;
                Set<String> fromSpan = new HashSet<>(nodesOf.get(ns + "/" + from).keySet());
                nodesOf.get(ns + "/" + from).merge(node, -1, (x, y) -> x + y == 0 ? null : x + y);
                nodesOf.get(ns + "/" + to).merge(node, 1, Integer::sum);
                labelOf.put(key, to);
                Set<String> toSpan = new HashSet<>(nodesOf.get(ns + "/" + to).keySet());
                Set<String> affectedNodes = new HashSet<>(fromSpan);
                affectedNodes.addAll(toSpan);
                String fromGroup = groupOf.get(ns + "/np-" + from);
                String toGroup = groupOf.get(ns + "/np-" + to);
                Change change = new Change(c + 1, key, node, fromGroup, toGroup, toSpan, affectedNodes.size());
                for (Agent a : agents) {
                    if (affectedNodes.contains(a.node)) {
                        a.await(change);
                    } else {
                        a.observe(change);
                    }
                }
                // A JSON patch: the CRUD server's merge patch would keep the removed label with a null value.
                String patch = "[{\"op\":\"remove\",\"path\":\"/metadata/labels/app-" + from + "\"},"
                        + "{\"op\":\"add\",\"path\":\"/metadata/labels/app-" + to + "\",\"value\":\"scale-" + to + "\"}]";
                long sent = System.nanoTime();
                k8s.pods().inNamespace(ns).withName(name).patch(PatchContext.of(PatchType.JSON), patch);
                long returned = System.nanoTime();
                if (!change.done.await(60, TimeUnit.SECONDS)) {
                    List<String> missing = affectedNodes.stream().filter(n -> {
                        Agent a = byNode.get(n);
                        synchronized (a) {
                            return a.waitingFor == change;
                        }
                    }).sorted().toList();
                    throw new IllegalStateException("change " + (c + 1) + " (" + key + " app-" + from + " -> app-" + to
                            + "): " + missing.size() + " of " + affectedNodes.size() + " affected agents never reflected it: "
                            + missing);
                }
                // Let stragglers outside the affected set show up in the count before the next change.
                Thread.sleep(20);
                agents.forEach(Agent::stopObserving);
                afterReturn[c] = Math.max(0, (change.lastReflected.get() - returned) / 1000);
                afterSend[c] = (change.lastReflected.get() - sent) / 1000;
                patchMs[c] = (returned - sent) / 1000;
                affected[c] = affectedNodes.size();
                receiving[c] = change.agentsReceiving.get() + change.observeOnly.agentsReceiving.get();
            }
        }
        long[] r = afterReturn.clone();
        Arrays.sort(r);
        long[] s = afterSend.clone();
        Arrays.sort(s);
        long[] p = patchMs.clone();
        Arrays.sort(p);
        System.out.printf("BENCH fanout relabel: %d changes; PATCH returned -> last affected agent reflects it: p50 %.1f ms,"
                        + " p99 %.1f ms, max %.1f ms; (PATCH sent -> last agent: p50 %.1f ms, p99 %.1f ms; the API server's"
                        + " PATCH itself p50 %.1f ms); agents affected per change mean %.1f (min %d, max %d), agents receiving"
                        + " any event per change mean %.1f (max %d); harness GC %.1f s in all; load average before %s, after %s%n", changes,
                pct(r, 50) / 1e3, pct(r, 99) / 1e3, r[r.length - 1] / 1e3, pct(s, 50) / 1e3, pct(s, 99) / 1e3,
                pct(p, 50) / 1e3, Arrays.stream(affected).average().orElse(0), Arrays.stream(affected).min().orElse(0),
                Arrays.stream(affected).max().orElse(0), Arrays.stream(receiving).average().orElse(0),
                Arrays.stream(receiving).max().orElse(0), PolicyScaleBenchmark.gcMillis() / 1e3, load0,
                PolicyScaleBenchmark.loadAverage());
    }

    private static long pct(long[] sorted, int p) {
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(p / 100.0 * sorted.length) - 1)];
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static void awaitReady(HttpClient http, Process service, int port, Path log) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(600);
        while (System.nanoTime() < deadline) {
            if (!service.isAlive()) {
                throw new IllegalStateException("policy-service exited; log " + log + ":\n" + Files.readString(log));
            }
            try {
                if (http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/health/ready")).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException("policy-service not ready after 600 s; log " + log);
    }

    /** The service's RSS (and peak) from /proc, heap in use after a full GC from its own metrics. */
    private static String memory(HttpClient http, Process service, int port) throws Exception {
        Path jcmd = Path.of(ProcessHandle.current().info().command().orElseThrow()).resolveSibling("jcmd");
        Process gc = new ProcessBuilder(jcmd.toString(), Long.toString(service.pid()), "GC.run")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        if (!gc.waitFor(60, TimeUnit.SECONDS)) {
            gc.destroyForcibly();
        }
        String metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        double heap = 0;
        for (String line : metrics.split("\n")) {
            if (line.startsWith("jvm_memory_used_bytes{") && line.contains("area=\"heap\"")) {
                heap += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        String rss = "?";
        String hwm = "?";
        for (String line : Files.readAllLines(Path.of("/proc/" + service.pid() + "/status"))) {
            if (line.startsWith("VmRSS:")) {
                rss = Long.parseLong(line.replaceAll("\\D", "")) / 1024 + " MB";
            } else if (line.startsWith("VmHWM:")) {
                hwm = Long.parseLong(line.replaceAll("\\D", "")) / 1024 + " MB";
            }
        }
        return String.format("policy-service RSS %s (peak %s), heap in use after full GC %.0f MB", rss, hwm, heap / 1e6);
    }
}
