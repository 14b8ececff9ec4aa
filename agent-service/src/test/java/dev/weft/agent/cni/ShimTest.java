package dev.weft.agent.cni;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shim executed as a process with CNI env vars and the network configuration the kubelet derives from the
 * conflist the agent installed, against the running agent, real netns and real Open vSwitch.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@QuarkusTestResource(value = CniTestEnvironment.class, restrictToAnnotatedClass = true)
class ShimTest {

    static final ObjectMapper JSON = new ObjectMapper();

    @Inject
    CniAgent agent;

    @BeforeEach
    void nodeNetworkIsUp() {
        await().atMost(Duration.ofSeconds(30)).until(() -> agent.notReadyReason() == null);
    }

    /** What libcni sends on stdin: the conflist's plugin entry with cniVersion and name added. */
    static String pluginConfig() throws Exception {
        JsonNode conflist = JSON.readTree(Files.readString(CniTestEnvironment.dir.resolve("net.d").resolve(CniAgent.CONFLIST)));
        ObjectNode plugin = (ObjectNode) conflist.get("plugins").get(0).deepCopy();
        plugin.put("cniVersion", conflist.get("cniVersion").asText());
        plugin.put("name", conflist.get("name").asText());
        return JSON.writeValueAsString(plugin);
    }

    @Test
    void addCheckDelThroughTheShimProcess() throws Exception {
        String config = pluginConfig();
        try (PodNetns pod = new PodNetns()) {
            ShimProcess.Outcome add = ShimProcess.run(ShimProcess.env("ADD", "ctr-shim", pod.path(), "eth0", "default", "shim-1"), config);
            assertEquals(0, add.exit(), add.stdout() + add.stderr());
            JsonNode result = JSON.readTree(add.stdout());
            assertEquals("1.1.0", result.get("cniVersion").asText());
            String address = result.get("ips").get(0).get("address").asText();
            assertTrue(address.startsWith("10.244.7."), address);
            assertEquals("10.244.7.1", result.get("ips").get(0).get("gateway").asText());
            assertEquals("eth0", result.get("interfaces").get(1).get("name").asText());
            assertEquals(pod.path(), result.get("interfaces").get(1).get("sandbox").asText());
            assertEquals(1, result.get("ips").get(0).get("interface").asInt());
            assertTrue(pod.exec("ip", "-o", "addr", "show", "dev", "eth0").contains(address));

            ShimProcess.Outcome check = ShimProcess.run(ShimProcess.env("CHECK", "ctr-shim", pod.path(), "eth0", "default", "shim-1"), config);
            assertEquals(0, check.exit(), check.stdout());
            assertEquals("", check.stdout().trim());

            // An older cniVersion gets the older result format.
            ShimProcess.Outcome again = ShimProcess.run(ShimProcess.env("ADD", "ctr-shim", pod.path(), "eth0", "default", "shim-1"),
                    config.replace("\"1.1.0\"", "\"0.4.0\""));
            assertEquals(0, again.exit(), again.stdout());
            assertEquals("4", JSON.readTree(again.stdout()).get("ips").get(0).get("version").asText());

            for (int i = 0; i < 2; i++) {
                ShimProcess.Outcome del = ShimProcess.run(ShimProcess.env("DEL", "ctr-shim", pod.path(), "eth0", "default", "shim-1"), config);
                assertEquals(0, del.exit(), del.stdout());
            }
            assertTrue(!pod.exec("ip", "-o", "link").contains("eth0"));
        }
    }

    @Test
    void errorsComeBackAsCniErrorObjects() throws Exception {
        String config = pluginConfig();
        try (PodNetns pod = new PodNetns()) {
            Map<String, String> env = ShimProcess.env("ADD", "ctr-err", pod.path(), "eth0", "default", "err");
            assertError(ShimProcess.run(env, "{\"cniVersion\":"), 6);
            assertError(ShimProcess.run(env, config.replace("\"1.1.0\"", "\"7.0.0\"")), 1);
            assertError(ShimProcess.run(env, config.replace("\"type\":\"weft\"", "\"type\":\"other\"")), 7);
            assertError(ShimProcess.run(ShimProcess.env("ADD", "ctr-err", "/var/run/netns/wpod-missing", "eth0", "d", "e"), config), 3);
            Map<String, String> noCommand = ShimProcess.env("ADD", "ctr-err", pod.path(), "eth0", "d", "e");
            noCommand.remove("CNI_COMMAND");
            assertError(ShimProcess.run(noCommand, config), 4);
            Map<String, String> noContainer = ShimProcess.env("ADD", "", pod.path(), "eth0", "d", "e");
            assertError(ShimProcess.run(noContainer, config), 4);
            String unreachable = config.replaceAll("\"agentSocket\":\"[^\"]*\"", "\"agentSocket\":\"/tmp/weft-no-agent-here.sock\"");
            assertError(ShimProcess.run(env, unreachable), 102);

            ShimProcess.Outcome version = ShimProcess.run(Map.of("CNI_COMMAND", "VERSION"), "{\"cniVersion\":\"1.0.0\"}");
            assertEquals(0, version.exit());
            assertTrue(JSON.readTree(version.stdout()).get("supportedVersions").toString().contains("1.0.0"));
        }
    }

    private static void assertError(ShimProcess.Outcome o, int code) throws Exception {
        assertEquals(1, o.exit(), o.stdout() + o.stderr());
        JsonNode e = JSON.readTree(o.stdout());
        assertEquals(code, e.get("code").asInt(), o.stdout());
        assertTrue(!e.get("msg").asText().isBlank());
    }

    /**
     * Benchmark (prints figures, asserts only correctness): CNI ADD latency from shim start to result over 200 pods,
     * and the shim's own start-up (VERSION). Run with -Dweft.bench=true (command in docs/agent-cni.md).
     */
    @Test
    @EnabledIfSystemProperty(named = "weft.bench", matches = "true")
    void benchmarkAddLatencyAndShimStartup() throws Exception {
        String config = pluginConfig();
        int pods = Integer.getInteger("weft.bench.pods", 200);
        List<PodNetns> sandboxes = new ArrayList<>();
        long[] add = new long[pods];
        try {
            for (int i = 0; i < pods; i++) {
                sandboxes.add(new PodNetns());
            }
            for (int i = 0; i < pods; i++) {
                ShimProcess.Outcome o = ShimProcess.run(ShimProcess.env("ADD", "ctr-bench-" + i, sandboxes.get(i).path(), "eth0", "bench", "p" + i), config);
                assertEquals(0, o.exit(), o.stdout());
                add[i] = o.nanos();
            }
            for (int i = 0; i < pods; i++) {
                ShimProcess.Outcome o = ShimProcess.run(ShimProcess.env("DEL", "ctr-bench-" + i, sandboxes.get(i).path(), "eth0", "bench", "p" + i), config);
                assertEquals(0, o.exit(), o.stdout());
            }
        } finally {
            sandboxes.forEach(PodNetns::close);
        }
        long[] version = new long[30];
        for (int i = 0; i < version.length; i++) {
            version[i] = ShimProcess.run(Map.of("CNI_COMMAND", "VERSION"), "{\"cniVersion\":\"1.0.0\"}").nanos();
        }
        System.out.printf("%nBENCH cni-add (shim start to result, sequential) pods=%d p50=%.1f ms p99=%.1f ms max=%.1f ms%n",
                pods, pct(add, 50), pct(add, 99), pct(add, 100));
        System.out.printf("BENCH shim-startup (VERSION, JVM start to exit) runs=%d p50=%.1f ms p99=%.1f ms%n",
                version.length, pct(version, 50), pct(version, 99));
        System.out.printf("BENCH load average at end: %s%n", Files.readString(java.nio.file.Path.of("/proc/loadavg")).trim());
    }

    private static double pct(long[] nanos, int p) {
        long[] s = nanos.clone();
        Arrays.sort(s);
        int idx = Math.min(s.length - 1, (int) Math.ceil(p / 100.0 * s.length) - 1);
        return s[Math.max(0, idx)] / 1e6;
    }
}
