package dev.weft.agent.cni;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weft.agent.policy.AgentFootprintBenchmark;
import dev.weft.agent.policy.FakeControlPlane;
import dev.weft.agent.testing.OvsSandbox;
import dev.weft.proto.controlplane.v1.GroupMember;
import dev.weft.proto.controlplane.v1.PodReference;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.PolicyType;
import dev.weft.proto.controlplane.v1.Protocol;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static dev.weft.agent.policy.Events.addressGroup;
import static dev.weft.agent.policy.Events.appliedToGroup;
import static dev.weft.agent.policy.Events.ingressFrom;
import static dev.weft.agent.policy.Events.policy;
import static dev.weft.agent.policy.Events.port;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The agent measured whole, one process: the packaged agent (quarkus-run.jar, the JVM flags the image ships) on a real
 * bridge, 100 pods added through the real CNI plugin into real network namespaces, then NetworkPolicies from a real
 * gRPC policy stream until the switch holds 10k and then 40k policy flows. Prints the agent's RSS (from
 * /proc/PID/status) idle, with the pods, and at each flow count. No assertion on the figures; it fails only when a step
 * does not happen (a pod not added, flows not installed). {@code -Dfootprint.extra-flags="-Xmx96m"} adds JVM flags (the
 * last of a repeated flag wins), {@code -Dfootprint.histogram=true} prints the top of a heap histogram at each step.
 *
 * <p>Run (packages the agent and the plugin first): {@code ./mvnw -B verify -pl net,proto,kube-api-recorder,cni-shim,agent-service
 * -Dtest=none -Dsurefire.failIfNoSpecifiedTests=false -Dit.test=AgentWholeFootprintBench | grep BENCH}.
 */
class AgentWholeFootprintBench {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int PODS = 100;
    /** Peer addresses per policy: each policy adds about this many flows (its source matches) plus its conjunction. */
    private static final int PEERS_PER_POLICY = 100;

    @Test
    void rssWith100PodsAnd10kAnd40kFlows() throws Exception {
        Path jar = Path.of("target", "quarkus-app", "quarkus-run.jar").toAbsolutePath();
        if (!Files.isRegularFile(jar)) {
            fail("the agent is not packaged: " + jar);
        }
        Path dir = Files.createTempDirectory("weft-footprint-");
        FakeControlPlane cp = new FakeControlPlane();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(cp).build().start();
        List<PodNetns> pods = new ArrayList<>();
        Process agent = null;
        try (OvsSandbox ovs = OvsSandbox.startInNetns()) {
            int httpPort = AgentRestartIT.freePort();
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
            cmd.addAll(AgentFootprintBenchmark.JVM_FLAGS);
            cmd.addAll(AgentFootprintBenchmark.extraFlags());
            cmd.addAll(List.of("-Dquarkus.http.port=" + httpPort, "-Dagent.node-name=n1", "-Dagent.ovs-run-dir=" + ovs.dir,
                    "-Dagent.bridge=" + ovs.bridge, "-Dagent.bridge-datapath-type=netdev", "-Dagent.node-netns=" + ovs.netns,
                    "-Dagent.pod-cidrs=10.246.0.0/24", "-Dagent.state-dir=" + dir.resolve("state"),
                    "-Dagent.cni-socket=" + dir.resolve("cni.sock"), "-Dagent.local-api-socket=" + dir.resolve("agent.sock"), "-Dagent.cni-conf-dir=" + dir.resolve("net.d"),
                    // No API server or ipam-service (the pod CIDR is static); the policy stream is real gRPC.
                    "-Dquarkus.kubernetes-client.api-server-url=http://127.0.0.1:" + AgentRestartIT.freePort(),
                    "-Dquarkus.kubernetes-client.request-retry-backoff-limit=0",
                    "-Dquarkus.grpc.clients.ipam.port=" + AgentRestartIT.freePort(),
                    "-Dquarkus.grpc.clients.controlplane.host=127.0.0.1",
                    "-Dquarkus.grpc.clients.controlplane.port=" + server.getPort(),
                    "-jar", jar.toString()));
            agent = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve("agent.log").toFile()).start();
            AgentRestartIT.awaitReady(httpPort, agent);
            settle();
            report("idle on a real bridge", agent, ovs);

            String config = AgentRestartIT.pluginConfig(dir);
            List<GroupMember> members = new ArrayList<>();
            for (int i = 0; i < PODS; i++) {
                PodNetns pod = new PodNetns();
                pods.add(pod);
                ShimProcess.Outcome o = ShimProcess.run(ShimProcess.env("ADD", "ctr-fp-" + i, pod.path(), "eth0", "fp", "p" + i), config);
                assertEquals(0, o.exit(), "ADD of fp/p" + i + ": " + o.stdout() + o.stderr());
                String cidr = JSON.readTree(o.stdout()).get("ips").get(0).get("address").asText();
                members.add(GroupMember.newBuilder().setPod(PodReference.newBuilder().setNamespace("fp").setName("p" + i))
                        .addIps(cidr.substring(0, cidr.indexOf('/'))).setNodeName("n1").build());
            }
            settle();
            report(PODS + " pods added through the CNI plugin", agent, ovs);

            long await = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (cp.streams.isEmpty() && System.nanoTime() < await) {
                Thread.sleep(50);
            }
            assertTrue(!cp.streams.isEmpty(), "the agent opened its policy stream");
            cp.push(appliedToGroup("atg-fp", members.toArray(GroupMember[]::new)));
            int policies = 0;
            for (int target : new int[] {10_000, 40_000}) {
                int base = policyFlows(ovs);
                int needed = (target - base + PEERS_PER_POLICY) / (PEERS_PER_POLICY + 1);
                for (int k = 0; k < needed; k++, policies++) {
                    GroupMember[] peers = new GroupMember[PEERS_PER_POLICY];
                    for (int j = 0; j < PEERS_PER_POLICY; j++) {
                        int n = policies * PEERS_PER_POLICY + j;
                        // Members are keyed by their pod: every peer is a pod of its own (on another node).
                        peers[j] = GroupMember.newBuilder().setPod(PodReference.newBuilder().setNamespace("peers").setName("peer-" + n))
                                .addIps("172." + (16 + (n >> 16)) + "." + ((n >> 8) & 255) + "." + (n & 255))
                                .setNodeName("elsewhere").build();
                    }
                    cp.push(addressGroup("ag-fp-" + policies, peers));
                    cp.push(policy(PolicyEvent.Type.ADDED, policy("uid-fp-" + policies, "fp", "fp-" + policies, 1,
                            List.of("atg-fp"), List.of(PolicyType.INGRESS),
                            ingressFrom(0, List.of("ag-fp-" + policies), List.of(), port(Protocol.TCP, 8000 + policies % 1000)))));
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                int flows;
                while ((flows = policyFlows(ovs)) < target) {
                    if (System.nanoTime() > deadline || !agent.isAlive()) {
                        fail("policy flows on the switch: " + flows + " of " + target + " (agent log: target/agent-whole-footprint.log)");
                    }
                    Thread.sleep(200);
                }
                settle();
                report(PODS + " pods + " + policies + " policies", agent, ovs);
            }
        } finally {
            if (agent != null) {
                agent.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            pods.forEach(PodNetns::close);
            if (Files.exists(dir.resolve("agent.log"))) {
                Files.copy(dir.resolve("agent.log"), Path.of("target", "agent-whole-footprint.log"),
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    /** Flows of the policy tables (EgressRule, EgressDefaultRule, IngressRule, IngressDefaultRule). */
    private static int policyFlows(OvsSandbox ovs) throws IOException {
        int n = 0;
        for (String table : List.of("50", "60", "90", "100")) {
            n += ovs.dumpFlows("table=" + table).size();
        }
        return n;
    }

    private static void report(String step, Process agent, OvsSandbox ovs) throws IOException {
        int flows = ovs.dumpFlows().size();
        System.out.printf("BENCH agent whole (quarkus-run.jar, image JVM flags %s): %s: %d flows on the switch (%d in policy tables), RSS %.1f MB%n",
                String.join(" ", AgentFootprintBenchmark.extraFlags()), step, flows, policyFlows(ovs), rssKb(agent.pid()) / 1024.0);
        if (Boolean.getBoolean("footprint.histogram")) {
            // What the heap holds (-Dfootprint.histogram=true): the top of a class histogram after a full GC.
            Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                    Long.toString(agent.pid()), "GC.class_histogram").redirectErrorStream(true).start();
            String out = new String(jcmd.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            out.lines().limit(18).forEach(l -> System.out.println("BENCH   " + l));
        }
    }

    private static long rssKb(long pid) throws IOException {
        for (String l : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            if (l.startsWith("VmRSS:")) {
                return Long.parseLong(l.replaceAll("[^0-9]", ""));
            }
        }
        throw new IOException("no VmRSS for " + pid);
    }

    /** Lets the agent finish what the step started and the JVM trim its heap (TrimNativeHeapInterval, MaxHeapFreeRatio). */
    private static void settle() throws InterruptedException {
        Thread.sleep(5000);
    }
}
