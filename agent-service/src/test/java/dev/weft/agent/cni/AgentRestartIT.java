package dev.weft.agent.cni;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weft.agent.testing.OvsSandbox;
import org.junit.jupiter.api.Test;

import java.io.IOException;
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
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The packaged agent (quarkus-run.jar) as a real process, SIGKILLed while the shim is adding pods and started again:
 * every lease handed out before the kill is kept, a retried ADD gets the same address, half-done attachments are
 * cleaned up by the retry, and after DEL of everything nothing is leaked. Runs in the integration-test phase (the
 * jar must exist).
 */
class AgentRestartIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int PODS = 40;

    @Test
    void leasesSurviveAnAgentKilledInTheMiddleOfAdds() throws Exception {
        Path jar = Path.of("target", "quarkus-app", "quarkus-run.jar").toAbsolutePath();
        if (!Files.isRegularFile(jar)) {
            fail("the agent is not packaged: " + jar);
        }
        Path dir = Files.createTempDirectory("weft-restart-it-");
        List<PodNetns> pods = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(6);
        Process agent = null;
        try (OvsSandbox ovs = OvsSandbox.startInNetns()) {
            int httpPort = freePort();
            List<String> cmd = agentCommand(jar, ovs, dir, httpPort);
            agent = start(cmd, dir.resolve("agent-1.log"));
            awaitReady(httpPort, agent);
            String config = pluginConfig(dir);
            for (int i = 0; i < PODS; i++) {
                pods.add(new PodNetns());
            }

            // ADDs in flight; the agent is killed once a quarter of them have succeeded.
            AtomicInteger succeeded = new AtomicInteger();
            List<Future<ShimProcess.Outcome>> adds = new ArrayList<>();
            for (int i = 0; i < PODS; i++) {
                Map<String, String> env = ShimProcess.env("ADD", "ctr-rs-" + i, pods.get(i).path(), "eth0", "rs", "p" + i);
                adds.add(pool.submit(() -> {
                    ShimProcess.Outcome o = ShimProcess.run(env, config);
                    if (o.exit() == 0) {
                        succeeded.incrementAndGet();
                    }
                    return o;
                }));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (succeeded.get() < PODS / 4 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            agent.destroyForcibly().waitFor(10, TimeUnit.SECONDS);

            Map<Integer, String> before = new HashMap<>();
            int failedDuringKill = 0;
            for (int i = 0; i < PODS; i++) {
                ShimProcess.Outcome o = adds.get(i).get();
                if (o.exit() == 0) {
                    before.put(i, JSON.readTree(o.stdout()).get("ips").get(0).get("address").asText());
                } else {
                    failedDuringKill++;
                    // The shim reports the dead agent with a CNI error object, never a crash.
                    JsonNode err = JSON.readTree(o.stdout());
                    assertTrue(err.has("code") && err.has("msg"), o.stdout());
                }
            }
            assertTrue(before.size() >= PODS / 4, "ADDs before the kill: " + before.size());
            System.out.printf("agent killed after %d successful ADDs, %d ADDs failed with it%n", before.size(), failedDuringKill);

            agent = start(cmd, dir.resolve("agent-2.log"));
            awaitReady(httpPort, agent);

            // The kubelet retries every ADD; completed ones must come back with the same address.
            Set<String> all = new HashSet<>();
            for (int i = 0; i < PODS; i++) {
                ShimProcess.Outcome o = ShimProcess.run(ShimProcess.env("ADD", "ctr-rs-" + i, pods.get(i).path(), "eth0", "rs", "p" + i), config);
                assertEquals(0, o.exit(), o.stdout() + o.stderr());
                String address = JSON.readTree(o.stdout()).get("ips").get(0).get("address").asText();
                if (before.containsKey(i)) {
                    assertEquals(before.get(i), address, "pod " + i + " changed address across the restart");
                }
                all.add(address);
                assertTrue(pods.get(i).exec("ip", "-o", "addr", "show", "dev", "eth0").contains(address));
                assertEquals(0, ShimProcess.run(ShimProcess.env("CHECK", "ctr-rs-" + i, pods.get(i).path(), "eth0", "rs", "p" + i), config).exit());
            }
            assertEquals(PODS, all.size(), "duplicate addresses after the restart");
            JsonNode leases = JSON.readTree(dir.resolve("state").resolve("ipam").resolve("leases.json").toFile()).get("leases");
            assertEquals(PODS, leases.size(), "leases after the restart");

            for (int i = 0; i < PODS; i++) {
                assertEquals(0, ShimProcess.run(ShimProcess.env("DEL", "ctr-rs-" + i, pods.get(i).path(), "eth0", "rs", "p" + i), config).exit());
            }
            leases = JSON.readTree(dir.resolve("state").resolve("ipam").resolve("leases.json").toFile()).get("leases");
            assertEquals(0, leases.size(), "leaked leases");
            String ports = ovs.vsctl("list-ports", ovs.bridge);
            // Pod host ends (PodNetworkService.hostIfName); the tunnel port weft-tun0 is the node's, created at start.
            assertTrue(ports.lines().noneMatch(p -> p.matches("weft[0-9a-f]{11}")), "leaked ports: " + ports);
        } finally {
            pool.shutdownNow();
            if (agent != null) {
                agent.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            pods.forEach(PodNetns::close);
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    private static List<String> agentCommand(Path jar, OvsSandbox ovs, Path dir, int httpPort) throws IOException {
        return List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Dquarkus.http.port=" + httpPort,
                "-Dagent.node-name=restart-node",
                "-Dagent.ovs-run-dir=" + ovs.dir,
                "-Dagent.bridge=" + ovs.bridge,
                "-Dagent.bridge-datapath-type=netdev",
                "-Dagent.node-netns=" + ovs.netns,
                "-Dagent.pod-cidrs=10.244.9.0/24",
                "-Dagent.state-dir=" + dir.resolve("state"),
                "-Dagent.cni-socket=" + dir.resolve("cni.sock"), "-Dagent.local-api-socket=" + dir.resolve("agent.sock"),
                "-Dagent.cni-conf-dir=" + dir.resolve("net.d"),
                // No API server, ipam-service or policy-service: the agent must keep every lease without them.
                "-Dquarkus.kubernetes-client.api-server-url=http://127.0.0.1:" + freePort(),
                "-Dquarkus.kubernetes-client.request-retry-backoff-limit=0",
                "-Dquarkus.grpc.clients.ipam.port=" + freePort(),
                "-Dquarkus.grpc.clients.controlplane.port=" + freePort(),
                "-jar", jar.toString());
    }

    private static Process start(List<String> cmd, Path log) throws IOException {
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /** Waits for the agent's own CNI readiness check (the other checks need services this test does not run). */
    static void awaitReady(int httpPort, Process agent) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (System.nanoTime() < deadline) {
            if (!agent.isAlive()) {
                fail("the agent exited with " + agent.exitValue());
            }
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + "/q/health/ready"))
                        .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
                for (JsonNode check : JSON.readTree(r.body()).path("checks")) {
                    if ("cni-node-network".equals(check.path("name").asText()) && "UP".equals(check.path("status").asText())) {
                        return;
                    }
                }
            } catch (IOException e) {
                // not listening yet
            }
            Thread.sleep(200);
        }
        fail("the agent's node network did not become ready");
    }

    static String pluginConfig(Path dir) throws IOException {
        JsonNode conflist = JSON.readTree(Files.readString(dir.resolve("net.d").resolve(CniAgent.CONFLIST)));
        com.fasterxml.jackson.databind.node.ObjectNode plugin = (com.fasterxml.jackson.databind.node.ObjectNode) conflist.get("plugins").get(0).deepCopy();
        plugin.put("cniVersion", conflist.get("cniVersion").asText());
        plugin.put("name", conflist.get("name").asText());
        return JSON.writeValueAsString(plugin);
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
