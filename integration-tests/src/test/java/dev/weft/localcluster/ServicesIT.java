package dev.weft.localcluster;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The local cluster's Services on a real two-node cluster: admission (cluster IP, node port, bad Services refused),
 * {@code get svc}, the EndpointSlice controller following pods, the agents' ClusterIP datapath over TCP and UDP across
 * the nodes, endpoints scaled 1 -> 3 -> 0 -> 1, {@code exec} with Service names resolving inside the pod, ClusterIPs
 * from the nodes' own host network, and a node port from the outside host under both externalTrafficPolicies.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ServicesIT {
    private static final Pattern SERVED_BY = Pattern.compile("(svc/[a-z0-9-]+) source=([0-9.]+):");
    private Cli cli;

    @BeforeAll
    void up() {
        Cli.requireRootAndOvs();
        cli = new Cli("services");
        cli.ok("up", "--nodes", "2");
    }

    @AfterAll
    void down() {
        if (cli != null) {
            cli.run("down");
        }
    }

    static String pod(String name, String node, String app, String image) {
        return """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: %s
                  namespace: svc
                  labels: {app: %s}
                spec:
                  nodeName: %s
                  containers:
                  - name: c
                    image: %s
                    ports:
                    - {containerPort: 80, protocol: TCP, name: web}
                    - {containerPort: 80, protocol: UDP, name: echo}
                ---
                """.formatted(name, app, node, image);
    }

    static final String ECHO_SERVICE = """
            apiVersion: v1
            kind: Service
            metadata: {name: echo, namespace: svc}
            spec:
              selector: {app: echo}
              ports:
              - {name: http, port: 8080, protocol: TCP, targetPort: web}
              - {name: udp, port: 5353, protocol: UDP, targetPort: 80}
            ---
            """;

    /** Retries until {@code check} passes or 60 s have gone by (the slice and the agents' flows follow asynchronously). */
    private static void eventually(String what, Supplier<Boolean> check) {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (!check.get()) {
            if (System.nanoTime() > deadline) {
                fail(what + " did not happen within 60 s");
            }
            Procs.sleep(500);
        }
    }

    private Cli.Run probe(String to, int port, String protocol) {
        return cli.run("probe", "--from", "svc/client", "--to", to, "--port", "" + port, "--protocol", protocol, "--timeout-ms", "1500");
    }

    private static String servedBy(Cli.Run r) {
        Matcher m = SERVED_BY.matcher(r.output());
        return r.exitCode() == 0 && m.find() ? m.group(1) : null;
    }

    private JsonNode sliceEndpoints() {
        try {
            JsonNode slices = Layout.JSON.readTree(cli.ok("get", "endpointslices", "-n", "svc", "-l", "kubernetes.io/service-name=echo", "-o", "json"));
            var all = Layout.JSON.createArrayNode();
            slices.get("items").forEach(s -> s.path("endpoints").forEach(all::add));
            return all;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    @Order(1)
    void clusterIpServesTcpAndUdpAcrossNodes() throws Exception {
        cli.ok("apply", "-f", cli.write("echo.yaml", Conformance.namespace("svc") + pod("client", "node1", "client", "busybox")
                + pod("s1", "node2", "echo", "agnhost") + ECHO_SERVICE).toString());
        JsonNode svc = Layout.JSON.readTree(cli.ok("get", "svc", "-n", "svc", "-o", "json")).get("items").get(0);
        assertEquals("echo", svc.at("/metadata/name").asText());
        String clusterIp = svc.at("/spec/clusterIP").asText();
        assertTrue(clusterIp.startsWith("10.96."), clusterIp);
        // The slice: s1 with its named port resolved, ready, on node2.
        eventually("s1 in echo's EndpointSlice", () -> sliceEndpoints().size() == 1);
        JsonNode e = sliceEndpoints().get(0);
        assertEquals("node2", e.path("nodeName").asText());
        assertTrue(e.at("/conditions/ready").asBoolean(), e.toString());
        assertEquals("s1", e.at("/targetRef/name").asText());
        // TCP by name and by cluster IP, UDP: answered by s1 on node2, which sees the client pod's own address.
        eventually("TCP through the Service", () -> "svc/s1".equals(servedBy(probe("svc/svc/echo", 8080, "TCP"))));
        String clientIp = Layout.JSON.readTree(cli.ok("get", "pods", "-n", "svc", "-o", "json")).get("items").findValues("status").stream()
                .filter(s -> s.has("podIP")).map(s -> s.get("podIP").asText()).toList().toString();
        Cli.Run byIp = probe(clusterIp, 8080, "TCP");
        assertEquals("svc/s1", servedBy(byIp), byIp.output());
        eventually("UDP through the Service", () -> "svc/s1".equals(servedBy(probe("svc/svc/echo", 5353, "UDP"))));
        Matcher m = SERVED_BY.matcher(probe("svc/svc/echo", 5353, "UDP").output());
        assertTrue(m.find());
        assertTrue(clientIp.contains(m.group(2)), "the endpoint sees the client pod's address " + m.group(2) + " (pods " + clientIp + ")");
        // A port the Service does not have is a usage error, not a failed probe.
        assertEquals(2, probe("svc/svc/echo", 80, "TCP").exitCode());
    }

    @Test
    @Order(2)
    void endpointsFollowPodsScaledOneThreeZeroOne() {
        cli.ok("apply", "-f", cli.write("more.yaml", pod("s2", "node1", "echo", "agnhost") + pod("s3", "node2", "echo", "agnhost")).toString());
        eventually("three endpoints", () -> sliceEndpoints().size() == 3);
        Set<String> seen = new HashSet<>();
        eventually("connections spread over the endpoints", () -> {
            String by = servedBy(probe("svc/svc/echo", 8080, "TCP"));
            if (by != null) {
                seen.add(by);
            }
            return seen.size() >= 2;
        });
        System.out.println("endpoints seen answering: " + seen);
        // A pod relabelled out of the selector leaves the slice (and keeps running).
        cli.ok("apply", "-f", cli.write("relabel.yaml", pod("s3", "node2", "other", "agnhost")).toString());
        eventually("s3 out of the slice", () -> sliceEndpoints().size() == 2);
        cli.ok("delete", "pod", "s1", "-n", "svc");
        cli.ok("delete", "pod", "s2", "-n", "svc");
        eventually("no endpoints", () -> sliceEndpoints().isEmpty());
        eventually("no connection without endpoints", () -> probe("svc/svc/echo", 8080, "TCP").exitCode() == 1);
        cli.ok("apply", "-f", cli.write("back.yaml", pod("s1", "node2", "echo", "agnhost")).toString());
        eventually("back to one endpoint", () -> "svc/s1".equals(servedBy(probe("svc/svc/echo", 8080, "TCP"))));
    }

    @Test
    @Order(3)
    void getSvcShowsKubectlColumnsAndBadServicesAreRefused() {
        cli.ok("apply", "-f", cli.write("np.yaml", """
                apiVersion: v1
                kind: Service
                metadata: {name: web, namespace: svc}
                spec:
                  type: NodePort
                  externalTrafficPolicy: Local
                  selector: {app: web}
                  ports:
                  - {name: http, port: 80, targetPort: 80}
                """).toString());
        String table = cli.ok("get", "svc", "-n", "svc");
        Matcher web = Pattern.compile("(?m)^web\\s+NodePort\\s+(10\\.96\\.\\d+\\.\\d+)\\s+<none>\\s+80:(3\\d{4})/TCP\\s+\\d+s$").matcher(table);
        assertTrue(table.startsWith("NAME   ") && table.lines().findFirst().orElseThrow()
                .matches("NAME\\s+TYPE\\s+CLUSTER-IP\\s+EXTERNAL-IP\\s+PORT\\(S\\)\\s+AGE"), table);
        assertTrue(web.find(), table);
        assertTrue(Pattern.compile("(?m)^echo\\s+ClusterIP\\s+10\\.96\\.\\S+\\s+<none>\\s+8080/TCP,5353/UDP\\s+").matcher(table).find(), table);
        String kubernetes = cli.ok("get", "svc");
        assertTrue(Pattern.compile("(?m)^kubernetes\\s+ClusterIP\\s+10\\.96\\.0\\.1\\s+<none>\\s+443/TCP\\s+").matcher(kubernetes).find(), kubernetes);
        String nodePort = web.group(2);
        // Refused, exit 2, nothing written: a pod in the same file is not created either.
        Cli.Run clash = cli.run("apply", "-f", cli.write("clash.yaml", pod("never", "node1", "x", "busybox") + """
                apiVersion: v1
                kind: Service
                metadata: {name: clash, namespace: svc}
                spec:
                  type: NodePort
                  ports:
                  - {port: 80, nodePort: %s}
                """.formatted(nodePort)).toString());
        assertEquals(2, clash.exitCode(), clash.output());
        assertTrue(clash.output().contains("provided port is already allocated (to service svc/web)"), clash.output());
        for (String[] bad : List.of(
                new String[]{"type: Nodeport\n  ports:\n  - {port: 80}", "spec.type: Unsupported value: \"Nodeport\""},
                new String[]{"ports:\n  - {port: 0}", "spec.ports[0].port: Invalid value: 0"},
                new String[]{"ports:\n  - {port: 80, targetPort: 99999}", "spec.ports[0].targetPort: Invalid value: 99999"},
                new String[]{"clusterIP: 10.10.0.5\n  ports:\n  - {port: 80}",
                        "spec.clusterIP: Invalid value: \"10.10.0.5\": provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/16"},
                new String[]{"clusterIP: " + web.group(1) + "\n  ports:\n  - {port: 80}",
                        "spec.clusterIP: Invalid value: \"" + web.group(1) + "\": provided IP is already allocated (to service svc/web)"})) {
            Cli.Run r = cli.run("apply", "-f", cli.write("bad.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: bad, namespace: svc}\nspec:\n  "
                    + bad[0] + "\n").toString());
            assertEquals(2, r.exitCode(), r.output());
            assertTrue(r.output().contains("service/bad: " + bad[1]), r.output());
        }
        assertFalse(cli.ok("get", "pods", "-n", "svc").contains("never"));
        assertFalse(cli.ok("get", "svc", "-n", "svc").contains("clash"));
        // Applied again: unchanged, same node port.
        String again = cli.ok("apply", "-f", cli.home.resolveSibling(cli.home.getFileName() + "-manifests").resolve("np.yaml").toString());
        assertTrue(again.contains("service/web unchanged"), again);
        assertTrue(cli.ok("get", "svc", "-n", "svc").contains("80:" + nodePort + "/TCP"));
    }

    @Test
    @Order(4)
    void execRunsInThePodWithServiceNamesResolving() {
        cli.ok("apply", "-f", cli.write("nginx.yaml", pod("nginx-1", "node2", "web", "nginx")).toString());
        eventually("the web Service's endpoint", () -> cli.run("get", "endpointslices", "-n", "svc", "-l",
                "kubernetes.io/service-name=web").output().contains("10.10."));
        // The walkthrough's command, typed as such (GNU wget here: a timeout and one try so a failure ends quickly).
        eventually("wget through the Service by its name", () -> {
            Cli.Run r = cli.run("exec", "svc/client", "--", "sh", "-c", "wget -q -T 3 -t 1 -O - web | grep title");
            return r.exitCode() == 0 && r.output().contains("<title>Welcome to nginx!</title>");
        });
        Cli.Run fqdn = cli.run("exec", "svc/client", "--", "wget", "-q", "-T", "3", "-t", "1", "-O", "-", "http://web.svc.svc.cluster.local/");
        assertEquals(0, fqdn.exitCode(), fqdn.output());
        assertTrue(fqdn.output().contains("svc/nginx-1 source="), "the page names the pod that answered: " + fqdn.output());
        // exec's exit code is the command's; the command runs in the pod's network namespace.
        assertEquals(3, cli.run("exec", "svc/client", "--", "sh", "-c", "exit 3").exitCode());
        String addr = cli.ok("exec", "svc/client", "--", "ip", "-4", "-o", "addr", "show", "eth0");
        assertTrue(addr.contains("inet 10.10."), addr);
        assertNotEquals(0, cli.run("exec", "svc/nobody", "--", "true").exitCode());
        assertEquals(2, cli.run("exec", "svc/client").exitCode(), "no command");
    }

    /** {@code probe -o json} from {@code from} to {@code to}. */
    private JsonNode probeJson(String from, String to, int port) {
        Cli.Run r = cli.run("probe", "--from", from, "--to", to, "--port", "" + port, "--timeout-ms", "1500", "-o", "json");
        try {
            int start = r.output().indexOf("\n{");
            if (start < 0 && !r.output().startsWith("{")) {
                throw new AssertionError("probe " + from + " -> " + to + ": " + r.output());
            }
            return Layout.JSON.readTree(r.output().substring(start + 1));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Per node: its IP and its gateway's address (the first address of its pod CIDR). */
    private java.util.Map<String, String[]> nodes() {
        try {
            java.util.Map<String, String[]> out = new java.util.TreeMap<>();
            for (JsonNode n : Layout.JSON.readTree(cli.ok("get", "nodes", "-o", "json")).get("items")) {
                String ip = null;
                for (JsonNode a : n.at("/status/addresses")) {
                    if (a.path("type").asText().equals("InternalIP")) {
                        ip = a.path("address").asText();
                    }
                }
                String gw = dev.weft.net.IpPrefix.parse(n.at("/spec/podCIDR").asText()).address(1).toString();
                out.put(n.at("/metadata/name").asText(), new String[]{ip, gw});
            }
            return out;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private int webNodePort() {
        try {
            for (JsonNode svc : Layout.JSON.readTree(cli.ok("get", "svc", "-n", "svc", "-o", "json")).get("items")) {
                if (svc.at("/metadata/name").asText().equals("web")) {
                    return svc.at("/spec/ports/0/nodePort").asInt();
                }
            }
            throw new AssertionError("no Service svc/web");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    @Order(5)
    void theNodeItselfReachesClusterIpsWithTheEndpointLocalOrOnAnotherNode() {
        var nodes = nodes();
        // echo's endpoint s1 runs on node2: from node1 through the tunnel, from node2 locally. The endpoint sees the
        // client node's gateway address, which is how its reply comes back into that node's switch.
        for (String node : List.of("node1", "node2")) {
            eventually("node/" + node + " -> svc/svc/echo", () -> probeJson("node/" + node, "svc/svc/echo", 8080).path("connected").asBoolean());
            JsonNode o = probeJson("node/" + node, "svc/svc/echo", 8080);
            assertTrue(o.path("detail").asText().contains("svc/s1"), o.toString());
            assertEquals(nodes.get(node)[1], o.path("sourceSeen").asText(), "source seen from " + node + ": " + o);
        }
    }

    @Test
    @Order(6)
    void outsideReachesTheNodePortOnlyWhereAnEndpointRunsUnderExternalTrafficPolicyLocal() {
        var nodes = nodes();
        int nodePort = webNodePort();
        // web (ETP Local) has nginx-1 on node2 only: node2 answers with the outside host's own address kept, node1 refuses.
        eventually("outside -> node2:" + nodePort, () -> probeJson("outside", nodes.get("node2")[0], nodePort).path("connected").asBoolean());
        JsonNode onNode2 = probeJson("outside", nodes.get("node2")[0], nodePort);
        assertTrue(onNode2.path("detail").asText().contains("svc/nginx-1"), onNode2.toString());
        assertEquals(Topology.OUTSIDE_IP, onNode2.path("sourceSeen").asText(), "ETP Local keeps the client's address: " + onNode2);
        JsonNode onNode1 = probeJson("outside", nodes.get("node1")[0], nodePort);
        assertFalse(onNode1.path("connected").asBoolean(), "no endpoint on node1 under ETP Local: " + onNode1);

        // ETP Cluster: every node answers, and the endpoint sees the node that took the connection (its gateway
        // address: the connection is masqueraded into that node's switch, so the reply returns through it).
        cli.ok("apply", "-f", cli.write("np-cluster.yaml", """
                apiVersion: v1
                kind: Service
                metadata: {name: web, namespace: svc}
                spec:
                  type: NodePort
                  externalTrafficPolicy: Cluster
                  selector: {app: web}
                  ports:
                  - {name: http, port: 80, targetPort: 80, nodePort: %d}
                """.formatted(nodePort)).toString());
        for (String node : List.of("node1", "node2")) {
            String ip = nodes.get(node)[0];
            eventually("outside -> " + node + ":" + nodePort + " under ETP Cluster",
                    () -> probeJson("outside", ip, nodePort).path("connected").asBoolean());
            JsonNode o = probeJson("outside", ip, nodePort);
            assertTrue(o.path("detail").asText().contains("svc/nginx-1"), o.toString());
            assertEquals(nodes.get(node)[1], o.path("sourceSeen").asText(), "ETP Cluster via " + node + ": " + o);
        }
    }
}
