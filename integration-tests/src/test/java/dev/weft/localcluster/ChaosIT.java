package dev.weft.localcluster;

import com.fasterxml.jackson.databind.JsonNode;
import dev.weft.proto.agent.v1.AgentInfo;
import dev.weft.proto.agent.v1.AgentQueryGrpc;
import dev.weft.proto.agent.v1.DumpFlowsRequest;
import dev.weft.proto.agent.v1.Flow;
import dev.weft.proto.agent.v1.GetAgentInfoRequest;
import dev.weft.proto.agent.v1.ListPodInterfacesRequest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Chaos on a three-node local cluster: a seeded-random stream of pod creates and deletes, label changes and
 * NetworkPolicy creates, updates and deletes, while a second thread kills (SIGKILL) the containers of agents,
 * ipam-service and policy-service, which the kubelet starts again, and restarts the openvswitch containers, at random. At checkpoints (every few operations, kills paused) and at
 * the end the cluster must settle to exactly what was asked for:
 * <ul>
 *   <li>reachability: the TCP/80 matrix of every pod equals what the policies say ({@link ChaosWorld#expected}, the
 *       NetworkPolicy semantics of the generated family);</li>
 *   <li>no two pods share an IP;</li>
 *   <li>no IP lease and no OVS port leaked: each agent's leases and its bridge's pod ports are exactly the pods the API
 *       places on its node;</li>
 *   <li>flows: the flows on each switch ({@code ovs-ofctl diff-flows} in the node's namespace) equal the agent's
 *       desired flows (its query API, {@code DumpFlows} with {@code desired}) by content: table, priority, cookie,
 *       match and actions; flows of an older round only shortly after that agent's restart (the agent deletes them
 *       once it has reconciled its pods, applied the policy snapshot and installed peers and Services).</li>
 * </ul>
 * When a check fails, the message explains the state: per node the agent's pods with their ofports against the
 * ports Open vSwitch numbers, the flow differences, the flows naming each pod whose reachability is wrong, and the
 * warnings of the agent's log.
 * Bounded in time and count ({@code -Dweft.chaos.seconds}, {@code -Dweft.chaos.ops}); prints the counts and the
 * random seed, and {@code -Dweft.chaos.seed=N} replays the same operations and kills (their timing differs from run to
 * run).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ChaosIT {
    private static final long SEED = Long.getLong("weft.chaos.seed", 20261202L);
    private static final int SECONDS = Integer.getInteger("weft.chaos.seconds", 90);
    private static final int MAX_OPS = Integer.getInteger("weft.chaos.ops", 45);
    private static final int CHECKPOINT_EVERY = Integer.getInteger("weft.chaos.checkpoint-every", 15);
    private static final long SETTLE_MS = 60_000;
    /**
     * After its restart the agent deletes the previous run's flows once its pods, the policy snapshot, peer nodes and
     * Services are back (agent.flow-round-grace-seconds, 120 s, is only the upper bound): older-round flows are
     * allowed this long after the restarted agent was ready, and are a failure after that.
     */
    private static final long STALE_ROUND_ALLOWED_MS = 20_000;
    /** When each node's agent was last restarted and ready; removed once its old round was seen gone. */
    private final Map<String, Long> agentReady = new java.util.concurrent.ConcurrentHashMap<>();
    private final List<Double> staleRoundGoneSeconds = new ArrayList<>();
    private int staleSeen;

    private Cli cli;
    private Layout layout;
    private final ChaosWorld world = new ChaosWorld();
    private final Map<String, Integer> ops = new TreeMap<>();
    private final Map<String, Integer> kills = new TreeMap<>();
    private final Map<String, Integer> checks = new TreeMap<>();

    @BeforeAll
    void up() {
        Cli.requireRootAndOvs();
        cli = new Cli("chaos");
        cli.ok("up", "--nodes", "3");
        layout = new Layout(cli.home, cli.repo);
    }

    @AfterAll
    void down() {
        if (cli != null) {
            cli.run("down");
        }
    }

    private static void count(Map<String, Integer> m, String what) {
        synchronized (m) {
            m.merge(what, 1, Integer::sum);
        }
    }

    private static int total(Map<String, Integer> m) {
        synchronized (m) {
            return m.values().stream().mapToInt(Integer::intValue).sum();
        }
    }

    @Test
    void podsPoliciesAndKillsSettleToWhatWasAsked() throws Exception {
        System.out.printf("CHAOS seed %d (replay with -Dweft.chaos.seed=%d), %d s, at most %d operations%n", SEED, SEED,
                SECONDS, MAX_OPS);
        long t0 = System.nanoTime();
        Random rnd = new Random(SEED);
        cli.ok("apply", "-f", cli.write("chaos-ns.yaml", ChaosWorld.namespaces()).toString());
        for (int i = 0; i < 4; i++) {
            ChaosWorld.Pod p = world.newPod(rnd);
            world.pods.put(p.key(), p);
        }
        cli.ok("apply", "-f", cli.write("chaos-initial.yaml", world.allYaml()).toString());
        checkpoint("start");

        Killer killer = new Killer(new Random(SEED * 31 + 7));
        Thread killerThread = Thread.ofPlatform().name("chaos-killer").start(killer);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(SECONDS);
        int n = 0;
        try {
            while (n < MAX_OPS && System.nanoTime() < deadline && killer.failure == null) {
                operation(rnd, n);
                n++;
                // a pace, not a wait for anything: operations spread over the kills instead of racing past them
                Procs.sleep(200 + rnd.nextInt(400));
                if (n % CHECKPOINT_EVERY == 0) {
                    killer.paused(() -> checkpoint("after " + total(ops) + " operations"));
                }
            }
        } finally {
            killer.stop.set(true);
            killerThread.join(300_000);
        }
        if (killer.failure != null) {
            throw new AssertionError("CHAOS seed " + SEED + ": a kill or restart failed after " + total(ops)
                    + " operations: " + killer.failure + cli.logs(), killer.failure);
        }
        checkpoint("end");
        System.out.printf("CHAOS done in %.0f s: seed %d; %d operations %s; %d kills %s; %d checks passed %s;"
                        + " %d flow checks found the previous round's flows shortly after the agent's restart; the old"
                        + " round was seen gone %s s after the restarted agent was ready%n",
                (System.nanoTime() - t0) / 1e9, SEED, total(ops), ops, total(kills), kills, total(checks), checks,
                staleSeen, staleRoundGoneSeconds.stream().map(d -> String.format("%.1f", d)).toList());
    }

    // ------------------------------------------------------------------ operations

    private void operation(Random rnd, int n) {
        int dice = rnd.nextInt(100);
        List<ChaosWorld.Pod> pods = new ArrayList<>(world.pods.values());
        if (dice < 18 && world.pods.size() < 7) {
            ChaosWorld.Pod p = world.newPod(rnd);
            world.pods.put(p.key(), p);
            apply("create-pod", "pod-" + p.name() + ".yaml", ChaosWorld.yaml(p));
        } else if (dice < 30 && world.pods.size() > 3) {
            ChaosWorld.Pod p = pods.get(rnd.nextInt(pods.size()));
            world.pods.remove(p.key());
            run("delete-pod", "delete", "pod", p.name(), "-n", p.ns());
        } else if (dice < 48) {
            ChaosWorld.Pod p = pods.get(rnd.nextInt(pods.size()));
            String role = ChaosWorld.ROLES.get(rnd.nextInt(ChaosWorld.ROLES.size()));
            ChaosWorld.Pod relabelled = new ChaosWorld.Pod(p.ns(), p.name(), p.node(), role);
            world.pods.put(p.key(), relabelled);
            apply("relabel-pod", "relabel-" + n + ".yaml", ChaosWorld.yaml(relabelled));
        } else if (dice < 70 || world.policies.isEmpty()) {
            String ns = ChaosWorld.NAMESPACES.get(rnd.nextInt(ChaosWorld.NAMESPACES.size()));
            ChaosWorld.Policy p = world.newPolicy(rnd, ns, world.newPolicyName());
            world.policies.put(p.ns() + "/" + p.name(), p);
            apply("create-policy", "policy-" + n + ".yaml", ChaosWorld.yaml(p));
        } else if (dice < 85) {
            List<ChaosWorld.Policy> ps = new ArrayList<>(world.policies.values());
            ChaosWorld.Policy old = ps.get(rnd.nextInt(ps.size()));
            ChaosWorld.Policy p = world.newPolicy(rnd, old.ns(), old.name());
            world.policies.put(p.ns() + "/" + p.name(), p);
            apply("update-policy", "policy-" + n + ".yaml", ChaosWorld.yaml(p));
        } else {
            List<ChaosWorld.Policy> ps = new ArrayList<>(world.policies.values());
            ChaosWorld.Policy p = ps.get(rnd.nextInt(ps.size()));
            world.policies.remove(p.ns() + "/" + p.name());
            run("delete-policy", "delete", "networkpolicy", p.name(), "-n", p.ns());
        }
    }

    /** Applies without waiting (the checkpoints wait): operations keep coming while components are down. */
    private void apply(String kind, String file, String yaml) {
        run(kind, "apply", "--no-wait", "-f", cli.write(file, yaml).toString());
    }

    private void run(String kind, String... args) {
        Cli.Run r = cli.run(120, args);
        // The API server is never killed: every operation must be accepted there.
        assertEquals(0, r.exitCode(), () -> kind + " failed: " + r.output());
        count(ops, kind);
    }

    // ------------------------------------------------------------------ kills

    /**
     * Kills one component at a time, 1-3 s after the last one is back; the kinds come in rounds of four in a seeded
     * random order (so every kind is killed), on a random node; {@link #paused} holds it off during a checkpoint.
     */
    private final class Killer implements Runnable {
        final AtomicBoolean stop = new AtomicBoolean();
        final ReentrantLock lock = new ReentrantLock();
        /** A kill or restart that failed (a component that did not come back): ends the test. */
        volatile Throwable failure;
        private final Random rnd;

        Killer(Random rnd) {
            this.rnd = rnd;
        }

        void paused(Runnable r) {
            lock.lock();
            try {
                r.run();
            } finally {
                lock.unlock();
            }
        }

        @Override
        public void run() {
            List<Integer> round = new ArrayList<>();
            while (!stop.get()) {
                Procs.sleep(1000 + rnd.nextInt(2000));
                if (stop.get()) {
                    return;
                }
                if (round.isEmpty()) {
                    round.addAll(List.of(0, 1, 2, 3));
                    java.util.Collections.shuffle(round, rnd);
                }
                int what = round.removeFirst();
                String node = ChaosWorld.NODES.get(rnd.nextInt(ChaosWorld.NODES.size()));
                lock.lock();
                try {
                    if (failure != null) {
                        return;
                    }
                    switch (what) {
                        case 0 -> killAgent(node);
                        case 1 -> restartOvs(node);
                        case 2 -> killService("policy-service", node);
                        default -> killService("ipam-service", node);
                    }
                } catch (RuntimeException | AssertionError e) {
                    failure = e;
                    return;
                } finally {
                    lock.unlock();
                }
            }
        }
    }

    private ClusterState cluster() {
        return layout.requireCluster();
    }

    /** SIGKILL of the node's agent container, which the kubelet starts again (restartPolicy Always), until Ready. */
    private void killAgent(String node) {
        long t = System.nanoTime();
        BundleDeployment.restartContainer(cluster(), "weft-agent-" + node, "agent", true);
        agentReady.put(node, System.currentTimeMillis());
        count(kills, "agent");
        System.out.printf("CHAOS kill -9 agent of %s, restarted by the kubelet and ready in %.1f s%n", node, (System.nanoTime() - t) / 1e9);
    }

    /** SIGKILL of one replica of a control-plane Deployment (the one on {@code node}, else the first), until Ready again. */
    private void killService(String name, String node) {
        long t = System.nanoTime();
        String pod;
        try (var api = Kube.client(cluster().apiUrl())) {
            var replicas = api.pods().inNamespace(PodmanKubelet.NAMESPACE).withLabel("app", name).list().getItems().stream()
                    .sorted(java.util.Comparator.comparing((io.fabric8.kubernetes.api.model.Pod p) -> !node.equals(p.getSpec().getNodeName()))
                            .thenComparing(p -> p.getMetadata().getName()))
                    .toList();
            if (replicas.isEmpty()) {
                throw new AssertionError("no pod of " + name);
            }
            pod = replicas.getFirst().getMetadata().getName();
        }
        BundleDeployment.restartContainer(cluster(), pod, name, true);
        count(kills, name);
        System.out.printf("CHAOS kill -9 %s (%s), restarted by the kubelet and ready in %.1f s%n", name, pod, (System.nanoTime() - t) / 1e9);
    }

    /** The node's openvswitch container restarted as a kubelet restarts it (flow-restore-wait, then the agent's replay). */
    private void restartOvs(String node) {
        cli.ok("restart-ovs", "--node", node);
        count(kills, "ovs-vswitchd");
        System.out.printf("CHAOS openvswitch container of %s restarted%n", node);
    }

    // ------------------------------------------------------------------ checks

    /** Waits (up to SETTLE_MS) for {@code check} to give no problem; fails with the last problem otherwise. */
    private void settle(String checkpoint, String what, Supplier<String> check) {
        long until = System.currentTimeMillis() + SETTLE_MS;
        String problem;
        while ((problem = check.get()) != null && System.currentTimeMillis() < until) {
            Procs.sleep(500);
        }
        if (problem != null) {
            throw new AssertionError("CHAOS seed " + SEED + ", checkpoint " + checkpoint + " after " + total(ops)
                    + " operations and " + total(kills) + " kills: " + what + ": " + problem
                    + diagnosis(what.equals("reachability") ? wronglyReached(problemMatrix) : Set.of()) + cli.logs());
        }
        count(checks, what);
    }

    private void checkpoint(String name) {
        long t = System.nanoTime();
        // Re-applying what is asked for waits until every pod runs and every policy is realized on every node.
        cli.ok("apply", "-f", cli.write("chaos-world.yaml", world.allYaml()).toString());
        settle(name, "reachability", this::reachabilityProblem);
        settle(name, "unique pod IPs", this::duplicateIps);
        for (ClusterState.NodeState node : cluster().nodes()) {
            settle(name, "leases", () -> leaseProblem(node));
            settle(name, "ovs ports", () -> portProblem(node));
            settle(name, "flows", () -> flowProblem(node));
        }
        System.out.printf("CHAOS checkpoint %s: %d pods, %d policies, all checks passed in %.1f s%n", name,
                world.pods.size(), world.policies.size(), (System.nanoTime() - t) / 1e9);
    }

    /** The last matrix the reachability check saw, for the diagnosis. */
    private volatile Map<String, Map<String, Boolean>> problemMatrix = Map.of();

    private String reachabilityProblem() {
        var expected = world.expected(80);
        try {
            List<String> args = new ArrayList<>(List.of("matrix", "--port", "80", "--protocol", "TCP", "-o", "json",
                    "--timeout-ms", "800"));
            ChaosWorld.NAMESPACES.forEach(ns -> args.addAll(List.of("-n", ns)));
            Map<String, Map<String, Boolean>> actual = Layout.JSON.readValue(cli.ok(args.toArray(String[]::new)),
                    WalkthroughIT.MATRIX);
            problemMatrix = actual;
            return actual.equals(expected) ? null : "expected\n" + Probes.table(expected) + "actual\n" + Probes.table(actual);
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }

    /** Pods of the chaos namespaces as the API has them: key to node and IP. */
    private Map<String, String[]> apiPods() {
        Map<String, String[]> out = new TreeMap<>();
        try {
            for (String ns : ChaosWorld.NAMESPACES) {
                JsonNode pods = Layout.JSON.readTree(cli.ok("get", "pods", "-n", ns, "-o", "json"));
                for (JsonNode p : pods.get("items")) {
                    out.put(ns + "/" + p.at("/metadata/name").asText(),
                            new String[]{p.at("/spec/nodeName").asText(), p.at("/status/podIP").asText()});
                }
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return out;
    }

    private Set<String> podsOn(String node) {
        Set<String> keys = new TreeSet<>();
        apiPods().forEach((k, v) -> {
            if (v[0].equals(node)) {
                keys.add(k);
            }
        });
        return keys;
    }

    private String duplicateIps() {
        Map<String, String> byIp = new TreeMap<>();
        Map<String, String[]> pods = apiPods();
        if (!pods.keySet().equals(world.pods.keySet())) {
            return "the API has pods " + pods.keySet() + ", asked for " + world.pods.keySet();
        }
        for (var e : pods.entrySet()) {
            String ip = e.getValue()[1];
            if (ip.isEmpty()) {
                return e.getKey() + " has no IP";
            }
            String other = byIp.put(ip, e.getKey());
            if (other != null) {
                return e.getKey() + " and " + other + " share " + ip;
            }
        }
        return null;
    }

    private String leaseProblem(ClusterState.NodeState node) {
        Path file = Path.of(node.agentStateDir(), "ipam", "leases.json");
        Set<String> leased = new TreeSet<>();
        try {
            if (Files.exists(file)) {
                for (JsonNode l : Layout.JSON.readTree(file.toFile()).path("leases")) {
                    leased.add(l.path("namespace").asText() + "/" + l.path("name").asText());
                }
            }
        } catch (java.io.IOException e) {
            return "cannot read " + file + ": " + e;
        }
        Set<String> pods = podsOn(node.name());
        return leased.equals(pods) ? null : node.name() + " leases " + leased + ", pods on the node " + pods;
    }

    private String portProblem(ClusterState.NodeState node) {
        Sh.Result r = Topology.vsctl(node, "--format=json", "--columns=external_ids", "find", "Port",
                "external_ids:weft.dev/owner=weft-cni");
        Set<String> ported = new TreeSet<>();
        try {
            for (JsonNode row : Layout.JSON.readTree(r.out()).path("data")) {
                Map<String, String> ids = new TreeMap<>();
                for (JsonNode pair : row.get(0).get(1)) {
                    ids.put(pair.get(0).asText(), pair.get(1).asText());
                }
                ported.add(ids.get("weft.dev/pod-namespace") + "/" + ids.get("weft.dev/pod-name"));
            }
        } catch (java.io.IOException e) {
            return "cannot read ovs-vsctl output: " + e;
        }
        Set<String> pods = podsOn(node.name());
        return ported.equals(pods) ? null : node.name() + " OVS pod ports " + ported + ", pods on the node " + pods;
    }

    private static AgentQueryGrpc.AgentQueryBlockingStub agent(Grpc grpc) {
        return AgentQueryGrpc.newBlockingStub(grpc.channel).withDeadlineAfter(10, TimeUnit.SECONDS);
    }

    /** One flow in ovs-ofctl add-flows syntax (what {@code diff-flows} reads from a file). */
    private static String ofctlLine(Flow f) {
        return "table=" + f.getTableId() + ",priority=" + f.getPriority() + ",cookie=0x" + Long.toHexString(f.getCookie())
                + (f.getMatch().isEmpty() ? "" : "," + f.getMatch()) + " actions=" + f.getActions();
    }

    private static long cookieOf(String ofctlLine) {
        int at = ofctlLine.indexOf("cookie=0x");
        return at < 0 ? 0 : Long.parseUnsignedLong(ofctlLine.substring(at + 9).split("[, ]")[0], 16);
    }

    /**
     * {@code ovs-ofctl diff-flows} of the switch against the agent's desired flows: lines "-" (on the switch, not
     * desired) and "+" (desired, not on the switch); empty when they are equal.
     */
    private List<String> flowDiff(ClusterState.NodeState node) {
        List<Flow> desired;
        try (Grpc grpc = Grpc.agent(layout, node)) {
            desired = agent(grpc).dumpFlows(DumpFlowsRequest.newBuilder().setDesired(true).build()).getFlowsList();
        }
        Path file = cli.write("desired-flows-" + node.name() + ".txt",
                String.join("\n", desired.stream().map(ChaosIT::ofctlLine).toList()) + "\n");
        Sh.Result diff = Topology.ofctl(node, "-O", "OpenFlow13", "diff-flows",
                "unix:" + Path.of(node.ovsRunDir(), "br-int.mgmt"), file.toString());
        if (diff.exitCode() != 0 && diff.exitCode() != 2) {
            throw new IllegalStateException("ovs-ofctl diff-flows: " + diff.err());
        }
        return diff.out().lines().filter(l -> l.startsWith("-") || l.startsWith("+")).toList();
    }

    private String flowProblem(ClusterState.NodeState node) {
        AgentInfo info;
        List<String> diff;
        try (Grpc grpc = Grpc.agent(layout, node)) {
            info = agent(grpc).getAgentInfo(GetAgentInfoRequest.getDefaultInstance());
            diff = flowDiff(node);
        } catch (RuntimeException e) {
            return node.name() + " agent or switch: " + e;
        }
        List<String> stale = diff.stream().filter(l -> l.startsWith("-") && cookieOf(l) >>> 48 != info.getRound()).toList();
        List<String> wrong = diff.stream().filter(l -> !stale.contains(l)).toList();
        Long ready = agentReady.get(node.name());
        boolean staleAllowed = ready != null && System.currentTimeMillis() - ready < STALE_ROUND_ALLOWED_MS;
        if (wrong.isEmpty() && (stale.isEmpty() || staleAllowed)) {
            if (!stale.isEmpty()) {
                staleSeen++;
                System.out.printf("CHAOS %s: %d flows of the previous round still on the switch %.1f s after the agent's"
                        + " restart, e.g. %s%n", node.name(), stale.size(), (System.currentTimeMillis() - ready) / 1e3,
                        stale.subList(0, Math.min(3, stale.size())));
            } else if (ready != null) {
                double gone = (System.currentTimeMillis() - ready) / 1e3;
                staleRoundGoneSeconds.add(gone);
                agentReady.remove(node.name());
                System.out.printf("CHAOS %s: no flow of the previous round %.1f s after the agent's restart%n", node.name(),
                        gone);
            }
            return null;
        }
        return node.name() + ": the switch's flows differ from the agent's desired flows (round " + info.getRound() + ", "
                + info.getFlows() + " desired): " + wrong.stream().filter(l -> l.startsWith("+")).count()
                + " desired flows missing, " + wrong.stream().filter(l -> l.startsWith("-")).count()
                + " flows of this round not desired, " + stale.size() + " of an older round"
                + (stale.isEmpty() || staleAllowed ? "" : " (" + STALE_ROUND_ALLOWED_MS / 1000
                + " s after the agent's restart)") + "; e.g.\n  "
                + String.join("\n  ", diff.subList(0, Math.min(12, diff.size())));
    }

    // ------------------------------------------------------------------ diagnosis

    /** The pods whose row or column of the last matrix differs from the model. */
    private Set<String> wronglyReached(Map<String, Map<String, Boolean>> actual) {
        Set<String> pods = new TreeSet<>();
        world.expected(80).forEach((from, row) -> row.forEach((to, ok) -> {
            Boolean seen = actual.getOrDefault(from, Map.of()).get(to);
            if (!ok.equals(seen)) {
                pods.add(from);
                pods.add(to);
            }
        }));
        return pods;
    }

    /**
     * What explains a failed check, per node: the agent's pods (its ofport) against Open vSwitch's ports (ofport and
     * ofport_request), the flows differing from the agent's desired flows, the flows naming each pod of
     * {@code suspects} (its ofport or IP), and the warnings of the agent's log.
     */
    private String diagnosis(Set<String> suspects) {
        StringBuilder sb = new StringBuilder("\n--- diagnosis");
        if (!suspects.isEmpty()) {
            sb.append(" (pods whose reachability is wrong: ").append(suspects).append(')');
        }
        for (ClusterState.NodeState node : cluster().nodes()) {
            sb.append("\n[").append(node.name()).append("]");
            Map<String, Integer> agentOfport = new TreeMap<>();
            Map<String, String> agentIp = new TreeMap<>();
            try (Grpc grpc = Grpc.agent(layout, node)) {
                for (var p : agent(grpc).listPodInterfaces(ListPodInterfacesRequest.getDefaultInstance()).getInterfacesList()) {
                    agentOfport.put(p.getNamespace() + "/" + p.getName(), p.getOfport());
                    agentIp.put(p.getNamespace() + "/" + p.getName(), String.join(",", p.getIpsList()));
                }
            } catch (RuntimeException e) {
                sb.append("\n  agent's pods: ").append(e);
            }
            Map<String, String> ovsPorts = new TreeMap<>();
            try {
                Sh.Result r = Topology.vsctl(node, "--format=json", "--columns=name,ofport,ofport_request,external_ids",
                        "find", "Interface", "external_ids:weft.dev/owner=weft-cni");
                for (JsonNode row : Layout.JSON.readTree(r.out()).path("data")) {
                    Map<String, String> ids = new TreeMap<>();
                    for (JsonNode pair : row.get(3).get(1)) {
                        ids.put(pair.get(0).asText(), pair.get(1).asText());
                    }
                    ovsPorts.put(ids.get("weft.dev/pod-namespace") + "/" + ids.get("weft.dev/pod-name"),
                            row.get(0).asText() + " ofport " + row.get(1) + " ofport_request " + row.get(2));
                }
            } catch (RuntimeException | java.io.IOException e) {
                sb.append("\n  OVS ports: ").append(e);
            }
            Set<String> keys = new TreeSet<>(agentOfport.keySet());
            keys.addAll(ovsPorts.keySet());
            for (String k : keys) {
                sb.append("\n  ").append(k).append(": agent ofport ").append(agentOfport.get(k)).append(" ip ")
                        .append(agentIp.get(k)).append("; OVS ").append(ovsPorts.get(k));
            }
            try {
                List<String> diff = flowDiff(node);
                sb.append("\n  flows differing from the agent's desired flows: ").append(diff.size());
                diff.stream().limit(20).forEach(l -> sb.append("\n    ").append(l));
            } catch (RuntimeException e) {
                sb.append("\n  flow diff: ").append(e);
            }
            Sh.Result dump = Topology.ofctl(node, "-O", "OpenFlow13", "--no-stats", "dump-flows",
                    "unix:" + Path.of(node.ovsRunDir(), "br-int.mgmt"));
            for (String pod : suspects) {
                if (!agentOfport.containsKey(pod) && !ovsPorts.containsKey(pod)) {
                    continue;
                }
                Integer ofport = agentOfport.get(pod);
                String ip = agentIp.getOrDefault(pod, "?");
                sb.append("\n  flows naming ").append(pod).append(" (in_port=").append(ofport).append(", ").append(ip)
                        .append("):");
                dump.out().lines().filter(l -> (ofport != null && l.contains("in_port=" + ofport + ","))
                                || (ofport != null && l.contains("in_port=" + ofport + " "))
                                || l.contains("=" + ip + ",") || l.contains("=" + ip + " "))
                        .limit(30).forEach(l -> sb.append("\n    ").append(l.strip()));
            }
            try {
                List<String> warnings = Files.readAllLines(layout.log("agent-" + node.name())).stream()
                        .filter(l -> l.contains("WARN") || l.contains("ERROR")).toList();
                sb.append("\n  agent log warnings (last 15 of ").append(warnings.size()).append("):");
                warnings.subList(Math.max(0, warnings.size() - 15), warnings.size())
                        .forEach(l -> sb.append("\n    ").append(l));
            } catch (java.io.IOException e) {
                sb.append("\n  agent log: ").append(e);
            }
        }
        return sb.toString();
    }
}
