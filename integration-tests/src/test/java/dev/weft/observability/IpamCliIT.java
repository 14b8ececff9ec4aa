package dev.weft.observability;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.weft.localcluster.ApiServer;
import dev.weft.localcluster.KubeletProbe;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packaged ipam-service (its quarkus-run.jar, production profile) against the local cluster's API server, asked
 * by the packaged weftctl: `weftctl ipam pools|node|lookup` in each output format, a clear error for an unknown Node,
 * and its Prometheus endpoint as a scraper sees it.
 */
class IpamCliIT {
    private static final Path REPO = Path.of("..").toAbsolutePath().normalize();
    private static final String JAVA = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    private static ApiServer api;
    private static KubernetesClient client;
    private static Process ipam;
    private static int port;
    private static Path log;
    private static Path tokenFile;
    private static Path caFile;

    record Run(int exit, String out) {
    }

    @BeforeAll
    static void start() throws Exception {
        api = ApiServer.start(0);
        client = api.client();
        for (String name : List.of("ipam-cli-a", "ipam-cli-b")) {
            client.nodes().resource(new NodeBuilder().withNewMetadata().withName(name).endMetadata().build()).create();
        }
        // weftctl's identity: a token bound to a pod of its own, which ipam-service has the API server review.
        var pod = client.pods().inNamespace("default").resource(new io.fabric8.kubernetes.api.model.PodBuilder()
                .withNewMetadata().withName("weftctl").endMetadata().withNewSpec().withServiceAccountName("default")
                .withNodeName("ipam-cli-a").withHostNetwork(true).endSpec().build()).create();
        tokenFile = Files.createTempFile("ipam-cli-it", ".token");
        Files.writeString(tokenFile, client.serviceAccounts().inNamespace("default").withName("default").tokenRequest(
                new io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder().withNewSpec()
                        .withAudiences("weft-control-plane").withNewBoundObjectRef().withApiVersion("v1").withKind("Pod")
                        .withName("weftctl").withUid(pod.getMetadata().getUid()).endBoundObjectRef().endSpec().build())
                .getStatus().getToken());
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        log = Files.createTempFile("ipam-cli-it", ".log");
        Path jar = REPO.resolve("ipam-service/target/quarkus-app/quarkus-run.jar");
        assertTrue(Files.exists(jar), jar + " is built by the reactor before this module");
        ProcessBuilder pb = new ProcessBuilder(JAVA, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "--sun-misc-unsafe-memory-access=allow",
                "-Dquarkus.http.port=" + port, "-Dquarkus.http.host=127.0.0.1",
                "-Dkubernetes.master=" + api.url(), "-Dkubernetes.auth.tryServiceAccount=false",
                "-Dkubernetes.auth.tryKubeConfig=false", "-Dipam.cluster-cidrs=10.77.0.0/16",
                "-Dipam.reserved-cidrs=10.77.0.0/24", "-Dipam.leader-election.enabled=false", "-jar", jar.toString())
                .redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("KUBERNETES_MASTER", api.url());
        ipam = pb.start();
        // ipam-service as deployed: TLS only, with the CA it creates in the API server (weft-system/weft-ca).
        HttpClient http = KubeletProbe.client("https:");
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200)).ignoreExceptions().until(() -> {
            if (!ipam.isAlive()) {
                throw new AssertionError("ipam-service exited:\n" + Files.readString(log));
            }
            return http.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + "/q/health/ready")).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode() == 200;
        });
        caFile = Files.createTempFile("ipam-cli-it", ".ca.crt");
        Files.writeString(caFile, client.configMaps().inNamespace("weft-system").withName("weft-ca").get().getData()
                .get("ca.crt"));
        await().atMost(Duration.ofSeconds(30)).until(() -> client.nodes().list().getItems().stream()
                .allMatch(n -> n.getSpec() != null && n.getSpec().getPodCIDR() != null));
    }

    @AfterAll
    static void stop() throws Exception {
        if (ipam != null) {
            ipam.destroy();
            if (!ipam.waitFor(10, TimeUnit.SECONDS)) {
                ipam.destroyForcibly();
            }
        }
        if (client != null) {
            client.close();
        }
        if (api != null) {
            api.close();
        }
        if (tokenFile != null) {
            Files.deleteIfExists(tokenFile);
        }
        if (caFile != null) {
            Files.deleteIfExists(caFile);
        }
    }

    private static Run weftctl(String... args) throws IOException, InterruptedException {
        return weftctlWith(List.of("--ca-file", caFile.toString()), args);
    }

    /** weftctl ipam with the token but only the TLS flags given (none: no --ca-file). */
    private static Run weftctlWith(List<String> tlsFlags, String... args) throws IOException, InterruptedException {
        Path jar = REPO.resolve("cli/target/quarkus-app/quarkus-run.jar");
        assertTrue(Files.exists(jar), jar + " is built by the reactor before this module");
        List<String> command = new ArrayList<>(List.of(JAVA, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar",
                jar.toString(), "ipam", "--ipam-server",
                "127.0.0.1:" + port, "--token-file", tokenFile.toString()));
        command.addAll(tlsFlags);
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().remove("WEFT_CA_FILE");
        Process p = pb.start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Run(p.waitFor(), out);
    }

    private static String podCidr(String node) {
        Node n = client.nodes().withName(node).get();
        return n.getSpec().getPodCIDR();
    }

    @Test
    void poolsShowTheBlocksInEachState() throws Exception {
        Run table = weftctl("pools");
        assertEquals(0, table.exit(), table.out());
        List<String> lines = table.out().lines().toList();
        assertEquals("POOL         FAMILY NODE-MASK TOTAL ALLOCATED RESERVED FREE USED", lines.get(0), table.out());
        assertEquals("10.77.0.0/16 IPv4   /24       256   2         1        253  0.8%", lines.get(1), table.out());

        JsonNode json = new ObjectMapper().readTree(weftctl("pools", "-o", "json").out());
        assertEquals(2, json.get(0).get("allocatedBlocks").asInt());
        assertTrue(weftctl("pools", "-o", "yaml").out().contains("pool: \"10.77.0.0/16\""));
    }

    @Test
    void nodeAndLookupAnswerFromTheAllocator() throws Exception {
        String cidr = podCidr("ipam-cli-a");
        Run node = weftctl("node", "ipam-cli-a");
        assertEquals(0, node.exit(), node.out());
        assertTrue(node.out().lines().skip(1).findFirst().orElseThrow()
                .matches("ipam-cli-a +ALLOCATED +" + java.util.regex.Pattern.quote(cidr) + " +10\\.77\\.0\\.0/16 *"), node.out());

        String address = cidr.replace(".0/24", ".7");
        JsonNode owner = new ObjectMapper().readTree(weftctl("lookup", address, "-o", "json").out());
        assertEquals("ipam-cli-a", owner.get("nodeName").asText());
        assertEquals(cidr, owner.get("podCIDR").asText());
        assertEquals("IPv4", owner.get("family").asText());

        Run unknown = weftctl("node", "no-such-node");
        assertEquals(1, unknown.exit(), unknown.out());
        assertTrue(unknown.out().startsWith("error: ipam-service at 127.0.0.1:" + port + ": NOT_FOUND"), unknown.out());
        Run bad = weftctl("lookup", "010.77.1.1");
        assertEquals(1, bad.exit(), bad.out());
        assertTrue(bad.out().contains("INVALID_ARGUMENT"), bad.out());
    }

    @Test
    void aCallerWithoutAValidTokenIsRefused() throws Exception {
        Path forged = Files.createTempFile("ipam-cli-it", ".forged");
        try {
            String[] parts = Files.readString(tokenFile).split("\\.");
            Files.writeString(forged, parts[0] + "." + parts[1] + "." + parts[2].substring(2) + "AA");
            List<String> command = List.of(JAVA, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar",
                    REPO.resolve("cli/target/quarkus-app/quarkus-run.jar").toString(), "ipam", "--ipam-server",
                    "127.0.0.1:" + port, "--token-file", forged.toString(), "--ca-file", caFile.toString(), "pools");
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(1, p.waitFor(), out);
            assertTrue(out.contains("error: ipam-service at 127.0.0.1:" + port + ": UNAUTHENTICATED: the Kubernetes API"
                    + " did not authenticate the token: invalid bearer token: signature not made by this API server"), out);
        } finally {
            Files.deleteIfExists(forged);
        }
    }

    @Test
    void withoutTheCaOrWithAnotherCaWeftctlSaysWhatIsWrong() throws Exception {
        Path stranger = Files.createTempFile("ipam-cli-it", ".stranger.crt");
        try {
            Files.writeString(stranger, dev.weft.security.tls.CertificateAuthority.create("stranger",
                    Duration.ofDays(1), java.time.Instant.now()).certificatePem());
            Run other = weftctlWith(List.of("--ca-file", stranger.toString()), "pools");
            assertEquals(1, other.exit(), other.out());
            assertTrue(other.out().startsWith("error: ipam-service at 127.0.0.1:" + port + ": UNAVAILABLE"), other.out());
            Run none = weftctlWith(List.of(), "pools");
            assertEquals(1, none.exit(), none.out());
            assertTrue(none.out().contains("ipam-service serves TLS only: give --ca-file"), none.out());
        } finally {
            Files.deleteIfExists(stranger);
        }
    }

    @Test
    void thePackagedServiceExportsItsMetrics() throws Exception {
        // Scraped over HTTPS, as the bundle serves it (the scraper's CA check is what weftctl's tests show).
        String scrape = KubeletProbe.client("https:").send(HttpRequest.newBuilder(
                URI.create("https://127.0.0.1:" + port + "/q/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
        assertTrue(scrape.contains("weft_ipam_pool_blocks{family=\"ipv4\",pool=\"10.77.0.0/16\",state=\"allocated\"} 2.0"), scrape);
        assertTrue(scrape.contains("weft_ipam_nodes{state=\"ALLOCATED\"} 2.0"), scrape);
        assertTrue(scrape.contains("jvm_memory_used_bytes"), "the JVM binders are on");
    }
}
