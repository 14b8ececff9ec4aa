package dev.weft.images;

import dev.weft.localcluster.BundleContainer;
import dev.weft.localcluster.Podman;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.InetAddress;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Each image starts under podman, run as the bundle says (its env, ConfigMap values, capabilities, user, read-only
 * root, volumes), and answers its health endpoints: ipam-service and policy-service against a fake API server on
 * loopback, the agent in a network namespace of its own next to Open vSwitch started from the same image, after the
 * init container has installed the CNI plugin -- which then runs on this machine with nothing but its own files.
 * Runs with {@code -Pimages}, after the images are built. PRINTS each container's RSS ("IMAGE-RSS").
 */
class ImagesIT {

    static final Path REPO = Path.of(System.getProperty("weft.repo", "..")).toAbsolutePath().normalize();
    static final String VERSION = System.getProperty("weft.version", "0.1.0-SNAPSHOT");
    static final Duration READY_TIMEOUT = Duration.ofSeconds(180);
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    /** As the kubelet probes HTTPS: without verifying the certificate (which is checked against the CA below). */
    static final HttpClient PROBE = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).sslContext(acceptAny())
            .build();

    static javax.net.ssl.SSLContext acceptAny() {
        try {
            javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLS");
            context.init(null, new javax.net.ssl.TrustManager[] {new javax.net.ssl.X509ExtendedTrustManager() {
                public void checkClientTrusted(java.security.cert.X509Certificate[] c, String a, java.net.Socket s) { }
                public void checkServerTrusted(java.security.cert.X509Certificate[] c, String a, java.net.Socket s) { }
                public void checkClientTrusted(java.security.cert.X509Certificate[] c, String a, javax.net.ssl.SSLEngine e) { }
                public void checkServerTrusted(java.security.cert.X509Certificate[] c, String a, javax.net.ssl.SSLEngine e) { }
                public void checkClientTrusted(java.security.cert.X509Certificate[] c, String a) { }
                public void checkServerTrusted(java.security.cert.X509Certificate[] c, String a) { }
                public java.security.cert.X509Certificate[] getAcceptedIssuers() {
                    return new java.security.cert.X509Certificate[0];
                }
            }}, null);
            return context;
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static HttpClient clientFor(String url) {
        return url.startsWith("https:") ? PROBE : HTTP;
    }

    /** The certificate the service serves on 127.0.0.1:port must be signed by the CA it published in ConfigMap weft-ca. */
    private static void assertServedCertificateIsFromThePublishedCa(KubernetesMockServer api, int port) throws Exception {
        io.fabric8.kubernetes.api.model.ConfigMap bundle;
        try (var client = api.createClient()) {
            bundle = client.configMaps().inNamespace("weft-system").withName("weft-ca").get();
        }
        assertTrue(bundle != null && bundle.getData().containsKey("ca.crt"), "ConfigMap weft-system/weft-ca published");
        var ca = (java.security.cert.X509Certificate) java.security.cert.CertificateFactory.getInstance("X.509")
                .generateCertificate(new java.io.ByteArrayInputStream(bundle.getData().get("ca.crt")
                        .getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
        try (var socket = (javax.net.ssl.SSLSocket) acceptAny().getSocketFactory().createSocket("127.0.0.1", port)) {
            socket.startHandshake();
            var leaf = (java.security.cert.X509Certificate) socket.getSession().getPeerCertificates()[0];
            leaf.verify(ca.getPublicKey());
        }
    }

    static List<HasMetadata> bundle;
    static final String RUN = UUID.randomUUID().toString().substring(0, 8);

    @BeforeAll
    static void needsPodmanAsRoot() throws Exception {
        boolean ci = "true".equalsIgnoreCase(System.getenv("CI"));
        boolean root = "0".equals(Podman.exec(List.of("id", "-u"), 10).out().strip());
        boolean podman = Podman.exec(List.of("sh", "-c", "command -v podman"), 10).exit() == 0;
        if (ci && (!root || !podman)) {
            fail("the image tests need root and podman (CI=true): root=" + root + ", podman=" + podman);
        }
        assumeTrue(root && podman, "needs root and podman");
        bundle = BundleContainer.load(REPO.resolve("src/main/kubernetes/weft.yml"));
    }

    @Test
    void ipamServiceAnswersHealthAgainstAnApiServer() throws Exception {
        controlPlaneService("ipam-service", "IPAM_HTTP_PORT");
    }

    @Test
    void policyServiceAnswersHealthAgainstAnApiServer() throws Exception {
        controlPlaneService("policy-service", "POLICY_HTTP_PORT");
    }

    private void controlPlaneService(String name, String portVariable) throws Exception {
        KubernetesMockServer api = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(), false);
        api.init(InetAddress.getLoopbackAddress(), 0);
        try (Podman podman = new Podman(REPO)) {
            int port = freePort();
            BundleContainer c = BundleContainer.of(bundle, name, name);
            assertEquals("localhost/weft/" + name + ":" + VERSION, c.container().getImage(), "bundle image of " + name);
            Map<String, String> env = new LinkedHashMap<>();
            env.put(portVariable, String.valueOf(port));
            env.put("KUBERNETES_MASTER", "http://127.0.0.1:" + api.getPort());
            env.put("KUBERNETES_AUTH_TRYKUBECONFIG", "false");
            env.put("KUBERNETES_AUTH_TRYSERVICEACCOUNT", "false");
            env.put("KUBERNETES_NAMESPACE", "weft-system");
            List<String> args = new ArrayList<>(List.of("--network=host"));
            args.addAll(c.podmanArgs(Map.of("status.podIP", "127.0.0.1", "metadata.name", "weft-" + name + "-it",
                    "metadata.namespace", "weft-system"), env, standInTokens(c)));
            String container = "weft-it-" + name + "-" + RUN;
            podman.runDetached(container, args);
            // TLS only, as the bundle's HTTPS probes expect.
            String base = "https://127.0.0.1:" + port;
            awaitUp(podman, container, base + "/q/health/ready");
            assertTrue(get(base + "/q/health/live").contains("\"UP\""));
            assertServedCertificateIsFromThePublishedCa(api, port);
            printRss(podman, container, name);
        } finally {
            api.destroy();
        }
    }

    @Test
    void agentRunsInANodeNamespaceWithOpenVswitchFromItsImageAndInstallsTheCniPlugin() throws Exception {
        String netns = "weft-it-" + RUN;
        Path dir = Files.createTempDirectory("weft-image-it-");
        Map<String, Path> host = new LinkedHashMap<>();
        for (String volume : List.of("ovs-run", "ovs-db", "ovs-log", "cni-conf", "cni-bin", "weft-run", "weft-state", "weft-log", "netns")) {
            host.put(volume, Files.createDirectories(dir.resolve(volume)));
        }
        host.put("netns", Path.of("/run/netns"));
        check(Podman.exec(List.of("ip", "netns", "add", netns), 30));
        try (Podman podman = new Podman(REPO)) {
            check(Podman.exec(List.of("ip", "-n", netns, "link", "set", "lo", "up"), 30));
            String inNode = "--network=ns:/run/netns/" + netns;

            // First init container: IPv4 forwarding on in the node's namespace, which the agent cannot write itself.
            check(Podman.exec(List.of("ip", "netns", "exec", netns, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"), 30));
            BundleContainer sysctls = BundleContainer.of(bundle, "weft-agent", "node-sysctls");
            List<String> sysctlArgs = new ArrayList<>(List.of(inNode));
            sysctlArgs.addAll(sysctls.podmanArgs(Map.of(), Map.of(), host));
            Podman.Result set = podman.runToCompletion(sysctlArgs, 120);
            assertEquals(0, set.exit(), "node-sysctls: " + set.err() + set.out());
            assertEquals("1", Podman.exec(List.of("ip", "netns", "exec", netns, "cat", "/proc/sys/net/ipv4/ip_forward"), 30).out().strip(),
                    "node-sysctls left forwarding off: " + set.out());

            // Init container: the CNI plugin under the conflist's name, runnable on this machine as it is.
            BundleContainer install = BundleContainer.of(bundle, "weft-agent", "install-cni");
            assertEquals("localhost/weft/agent:" + VERSION, install.container().getImage());
            List<String> installArgs = new ArrayList<>(List.of(inNode));
            installArgs.addAll(install.podmanArgs(Map.of(), Map.of(), host));
            Podman.Result installed = podman.runToCompletion(installArgs, 120);
            assertEquals(0, installed.exit(), "install-cni: " + installed.err() + installed.out());
            Path plugin = host.get("cni-bin").resolve("weft");
            assertTrue(Files.isExecutable(plugin), "install-cni installed no " + plugin);
            Podman.Result version = Podman.exec(List.of("env", "-i", "PATH=/usr/bin:/bin", "CNI_COMMAND=VERSION", plugin.toString()), 60);
            assertEquals(0, version.exit(), version.err());
            assertTrue(version.out().contains("\"supportedVersions\""), version.out());
            Podman.Result again = podman.runToCompletion(installArgs, 120);
            assertTrue(again.out().contains("already installed"), "a second install-cni copies again: " + again.out());

            // Open vSwitch from the agent image.
            BundleContainer ovs = BundleContainer.of(bundle, "weft-agent", "openvswitch");
            List<String> ovsArgs = new ArrayList<>(List.of(inNode));
            ovsArgs.addAll(ovs.podmanArgs(Map.of(), Map.of(), host));
            String ovsName = "weft-it-ovs-" + RUN;
            podman.runDetached(ovsName, ovsArgs);
            List<String> probe = new ArrayList<>(List.of("exec", ovsName));
            probe.addAll(ovs.execProbe());
            awaitExec(podman, ovsName, probe);
            Podman.Result wait = podman.podman(List.of("exec", ovsName, "ovs-vsctl", "get", "open_vswitch", ".",
                    "other_config:flow-restore-wait"), 30);
            assertEquals("\"true\"", wait.out().strip(), "flow-restore-wait at start: " + wait.err());
            // The agent will create br-int itself; until then the test adds it (no-op once the agent does).
            check(podman.podman(List.of("exec", ovsName, "ovs-vsctl", "--may-exist", "add-br", "br-int", "--", "set",
                    "bridge", "br-int", "datapath_type=netdev"), 30));

            // The agent, with no API server in reach: alive, and its readiness sees Open vSwitch.
            BundleContainer agent = BundleContainer.of(bundle, "weft-agent", "agent");
            host.putAll(standInTokens(agent));
            List<String> agentArgs = new ArrayList<>(List.of(inNode));
            agentArgs.addAll(agent.podmanArgs(Map.of("spec.nodeName", "it-node", "status.podIP", "127.0.0.1", "metadata.name", "weft-agent-it", "metadata.namespace", "weft-system"),
                    Map.of("KUBERNETES_MASTER", "http://127.0.0.1:1", "KUBERNETES_AUTH_TRYKUBECONFIG", "false",
                            "KUBERNETES_AUTH_TRYSERVICEACCOUNT", "false", "AGENT_POD_CIDRS", "10.244.7.0/24"), host));
            String agentName = "weft-it-agent-" + RUN;
            podman.runDetached(agentName, agentArgs);
            String live = awaitInNetns(podman, agentName, netns, "http://127.0.0.1:9093/q/health/live", "\"UP\"");
            assertTrue(live.contains("\"UP\""), live);
            String ready = awaitInNetns(podman, agentName, netns, "http://127.0.0.1:9093/q/health/ready", "\"ovsdb\"");
            Matcher ovsdb = Pattern.compile("\"name\"\\s*:\\s*\"ovsdb\"\\s*,\\s*\"status\"\\s*:\\s*\"(\\w+)\"").matcher(ready);
            assertTrue(ovsdb.find() && ovsdb.group(1).equals("UP"), "the agent does not see Open vSwitch: " + ready);
            printRss(podman, agentName, "agent");
            printRss(podman, ovsName, "openvswitch");
        } finally {
            Podman.exec(List.of("ip", "netns", "del", netns), 30);
            Podman.exec(List.of("rm", "-rf", dir.toString()), 60);
        }
    }

    // ------------------------------------------------------------------ helpers

    /**
     * What the kubelet projects (ServiceAccount tokens), with a stand-in token per file: the images' tests check
     * start-up and health, not the control plane's verdict on the token.
     */
    private static Map<String, Path> standInTokens(BundleContainer c) throws IOException {
        Map<String, Path> out = new LinkedHashMap<>();
        for (var volume : c.projectedTokenPaths().entrySet()) {
            Path dir = Files.createTempDirectory("weft-projected-" + volume.getKey() + "-");
            for (String file : volume.getValue().keySet()) {
                Files.createDirectories(dir.resolve(file).getParent());
                Files.writeString(dir.resolve(file), "stand-in-token-for-the-image-test");
            }
            out.put(volume.getKey(), dir);
        }
        return out;
    }

    private static void awaitUp(Podman podman, String container, String url) throws Exception {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        String last = "";
        while (System.nanoTime() < deadline) {
            try {
                HttpResponse<String> r = clientFor(url).send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
                        HttpResponse.BodyHandlers.ofString());
                last = r.statusCode() + " " + r.body();
                if (r.statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                last = e.toString();
            }
            assertRunning(podman, container);
            Thread.sleep(500);
        }
        fail(url + " not UP after " + READY_TIMEOUT.toSeconds() + " s: " + last + "\n" + podman.logs(container));
    }

    private static String awaitInNetns(Podman podman, String container, String netns, String url, String expect) throws Exception {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        String last = "";
        while (System.nanoTime() < deadline) {
            Podman.Result r = Podman.exec(List.of("ip", "netns", "exec", netns, "curl", "-s", "--max-time", "5", url), 30);
            last = r.out() + r.err();
            if (r.exit() == 0 && r.out().contains(expect)) {
                return r.out();
            }
            assertRunning(podman, container);
            Thread.sleep(500);
        }
        fail(url + " in " + netns + " did not answer " + expect + " within " + READY_TIMEOUT.toSeconds() + " s: " + last
                + "\n" + podman.logs(container));
        return last;
    }

    private static void awaitExec(Podman podman, String container, List<String> command) throws Exception {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        Podman.Result r = null;
        while (System.nanoTime() < deadline) {
            r = podman.podman(command, 30);
            if (r.exit() == 0) {
                return;
            }
            assertRunning(podman, container);
            Thread.sleep(500);
        }
        fail(String.join(" ", command) + " failed for " + READY_TIMEOUT.toSeconds() + " s: " + (r == null ? "" : r.err())
                + "\n" + podman.logs(container));
    }

    private static void assertRunning(Podman podman, String container) throws Exception {
        Podman.Result state = podman.podman(List.of("inspect", "--format", "{{.State.Running}}", container), 30);
        if (!state.out().strip().equals("true")) {
            fail(container + " exited: " + podman.logs(container));
        }
    }

    private static void printRss(Podman podman, String container, String what) throws Exception {
        Podman.Result status = podman.podman(List.of("exec", container, "sh", "-c",
                "for p in /proc/[0-9]*; do c=$(tr '\\0' ' ' < $p/cmdline 2>/dev/null); [ -n \"$c\" ] && "
                        + "echo \"$(sed -n 's/^VmRSS:[^0-9]*\\([0-9]*\\).*/\\1/p' $p/status) ${c%% *}\"; done"), 30);
        System.out.println("IMAGE-RSS " + what + ": " + status.out().lines().map(String::strip).filter(l -> !l.isEmpty())
                .filter(l -> l.matches("\\d+ .*")).map(l -> {
                    String[] kv = l.split(" ", 2);
                    return kv[1].substring(kv[1].lastIndexOf('/') + 1) + " " + (Long.parseLong(kv[0]) / 1024) + " MiB";
                }).toList());
    }

    private static String get(String url) throws Exception {
        return clientFor(url).send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
                HttpResponse.BodyHandlers.ofString()).body();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private static void check(Podman.Result r) {
        Podman.check(r);
    }

    @AfterAll
    static void done() {
        bundle = null;
    }
}
