package dev.weft.agent.policy;

import dev.weft.agent.testing.OvsSandbox;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Memory of the agent on the JVM flags we ship (docs/agent-datapath.md): (1) the packaged agent (quarkus-run.jar)
 * connected to a real bridge, idle RSS; (2) the datapath with 100 local pods and 10k..40k policy flows in a JVM with the
 * same flags, RSS per step and growth per 10k flows. PRINTS figures. Run after packaging the agent:
 * {@code ./mvnw -q verify -pl net,proto,kube-api-recorder,agent-service -Dtest=AgentFootprintBenchmark -Dsurefire.failIfNoSpecifiedTests=false}.
 */
public class AgentFootprintBenchmark {

    public static final List<String> JVM_FLAGS = List.of("-XX:+UseSerialGC", "-Xms8m", "-Xmx64m", "-XX:MinHeapFreeRatio=10",
            "-XX:MaxHeapFreeRatio=30", "-Xss512k", "-XX:MaxMetaspaceSize=96m", "-XX:ReservedCodeCacheSize=32m",
            "-XX:TieredStopAtLevel=1", "-XX:MaxDirectMemorySize=32m", "-XX:TrimNativeHeapInterval=1000",
            "-Dio.netty.allocator.type=unpooled");

    /** Environment of the measured JVMs ({@code -Dfootprint.malloc-arena-max=N}: glibc malloc arenas). */
    static final java.util.Map<String, String> ENV = System.getProperty("footprint.malloc-arena-max", "").isBlank()
            ? java.util.Map.of() : java.util.Map.of("MALLOC_ARENA_MAX", System.getProperty("footprint.malloc-arena-max"));

    /** More JVM flags to try, space separated ({@code -Dfootprint.extra-flags=...}). */
    public static List<String> extraFlags() {
        String extra = System.getProperty("footprint.extra-flags", "").trim();
        return extra.isEmpty() ? List.of() : List.of(extra.split("\\s+"));
    }

    static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    @Test
    void datapathRssWith100PodsAndGrowingFlows() throws Exception {
        try (OvsSandbox ovs = OvsSandbox.start()) {
            List<String> cmd = new ArrayList<>(List.of(java()));
            cmd.addAll(JVM_FLAGS);
            cmd.addAll(extraFlags());
            cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), DatapathFootprint.class.getName(),
                    "unix:" + ovs.mgmtSocket()));
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
            pb.environment().putAll(ENV);
            Process p = pb.start();
            List<long[]> steps = new ArrayList<>();
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
                String line;
                while ((line = r.readLine()) != null) {
                    if (line.startsWith("FOOTPRINT")) {
                        System.out.println("BENCH " + line);
                        long flows = Long.parseLong(line.replaceAll(".* flows=(\\d+).*", "$1"));
                        long rss = Long.parseLong(line.replaceAll(".* rss_kb=(\\d+).*", "$1"));
                        steps.add(new long[]{flows, rss});
                    }
                }
            }
            assertTrue(p.waitFor(120, TimeUnit.SECONDS));
            assertEquals(5, steps.size(), "every step measured");
            long[] first = steps.get(1), last = steps.get(4);
            double perTenK = (last[1] - first[1]) / 1024.0 / ((last[0] - first[0]) / 10_000.0);
            System.out.printf("BENCH datapath: %.1f MB RSS with 100 pods + %d flows; growth %.2f MB per 10k flows%n",
                    first[1] / 1024.0, first[0], perTenK);
        }
    }

    @Test
    void packagedAgentIdleRssOnARealBridge() throws Exception {
        Path jar = Path.of("target/quarkus-app/quarkus-run.jar");
        if (!Files.exists(jar)) {
            System.out.println("BENCH agent: target/quarkus-app/quarkus-run.jar not built (run with verify): skipped");
            return;
        }
        try (OvsSandbox ovs = OvsSandbox.start(); ServerSocket free = new ServerSocket(0)) {
            int port = free.getLocalPort();
            free.close();
            List<String> cmd = new ArrayList<>(List.of(java()));
            cmd.addAll(JVM_FLAGS);
            cmd.addAll(extraFlags());
            cmd.addAll(List.of("-Dquarkus.http.port=" + port, "-Dagent.node-name=bench", "-Dagent.bridge=" + ovs.bridge,
                    "-Dagent.ovs-run-dir=" + ovs.dir, "-Dagent.state-dir=" + ovs.dir.resolve("state"),
                    "-Dagent.cni-socket=" + ovs.dir.resolve("cni.sock"), "-Dagent.local-api-socket=" + ovs.dir.resolve("agent.sock"), "-Dagent.cni-conf-dir=" + ovs.dir.resolve("net.d"),
                    "-Dquarkus.kubernetes-client.api-server-url=http://127.0.0.1:1", "-Dquarkus.grpc.clients.controlplane.port=1",
                    "-Dquarkus.grpc.clients.ipam.port=1", "-jar", jar.toString()));
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ovs.dir.resolve("agent.log").toFile());
            pb.environment().putAll(ENV);
            Process agent = pb.start();
            try {
                HttpClient http = HttpClient.newHttpClient();
                boolean openflow = false;
                for (int i = 0; i < 60 && !openflow; i++) {
                    Thread.sleep(500);
                    try {
                        String body = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/q/health/ready")).build(),
                                HttpResponse.BodyHandlers.ofString()).body();
                        openflow = body.contains("\"openflow\"") && body.replaceAll("\\s", "").contains("\"name\":\"openflow\",\"status\":\"UP\"");
                    } catch (java.io.IOException e) {
                        // not listening yet
                    }
                }
                Thread.sleep(2000);
                long rss = 0;
                for (String l : Files.readAllLines(Path.of("/proc/" + agent.pid() + "/status"))) {
                    if (l.startsWith("VmRSS:")) {
                        rss = Long.parseLong(l.replaceAll("[^0-9]", ""));
                    }
                }
                System.out.printf("BENCH agent (quarkus-run.jar, %s %s): openflow ready=%s, RSS %.1f MB%n", String.join(" ", JVM_FLAGS),
                        String.join(" ", extraFlags()),
                        openflow, rss / 1024.0);
                assertTrue(openflow, "the packaged agent connected to the bridge: " + Files.readString(ovs.dir.resolve("agent.log")));
            } finally {
                agent.destroy();
                agent.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
