package dev.weft.localcluster;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * up/down of the topology with Weft deployed from the bundle (its pods as podman containers): what is created, that
 * {@code down} removes all of it (processes, containers, namespaces), twice, and after a crashed {@code up}.
 */
class TopologyIT {

    @BeforeAll
    static void requirements() {
        Cli.requireRootAndOvs();
    }

    @Test
    void upCreatesNodesWithTheirOwnOvsAndDownRemovesEverything() throws Exception {
        Cli cli = new Cli("topology");
        try {
            Cli.Run launched = cli.launch(600, "up", "--nodes", "2");
            assertEquals(0, launched.exitCode(), launched.output() + cli.logs());
            String up = launched.output();
            assertTrue(up.contains("Kubernetes API: http://127.0.0.1:"), up);
            JsonNode cluster = Layout.JSON.readTree(cli.home.resolve("cluster.json").toFile());
            String id = cluster.get("id").asText();

            JsonNode nodes = Layout.JSON.readTree(cli.ok("get", "nodes", "-o", "json"));
            assertEquals("List", nodes.get("kind").asText());
            assertEquals(2, nodes.get("items").size());
            assertEquals("192.168.77.11", nodes.get("items").get(0).at("/status/addresses/0/address").asText());

            for (JsonNode node : cluster.get("nodes")) {
                String netns = node.get("netns").asText();
                assertTrue(Files.exists(Path.of("/var/run/netns", netns)), netns);
                // Open vSwitch of the node's openvswitch container, its database socket on the node's hostPath.
                String db = node.get("ovsRunDir").asText() + "/db.sock";
                var vsctl = Sh.run(List.of("ovs-vsctl", "--db=unix:" + db,
                        "get", "bridge", "br-int", "datapath_type", "fail_mode"), java.util.Map.of(), null, 20).check();
                assertEquals("netdev\nsecure", vsctl.out().strip());
                // The underlay between the nodes: the node IP on br-phy reaches the other node's.
                String peer = node.get("name").asText().equals("node1") ? "192.168.77.12" : "192.168.77.11";
                Sh.check("ip", "netns", "exec", netns, "ping", "-c", "1", "-W", "2", peer);
            }
            // The outside host: recorded, on the underlay, outside the cluster CIDR, the nodes' default route, no route to pods.
            JsonNode outside = cluster.get("outside");
            String outsideNetns = outside.get("netns").asText();
            assertEquals("wft-" + id + "-outside", outsideNetns);
            assertEquals("192.168.77.254", outside.get("ip").asText());
            assertTrue(Files.readString(cli.home.resolve("netns.list")).contains(outsideNetns + "\n"), "down must know it");
            for (JsonNode node : cluster.get("nodes")) {
                Sh.check("ip", "netns", "exec", outsideNetns, "ping", "-c", "1", "-W", "2", node.get("ip").asText());
                assertTrue(Sh.check("ip", "-n", node.get("netns").asText(), "route", "show", "default").out().contains("via 192.168.77.254"));
            }
            String outsideRoutes = Sh.check("ip", "-n", outsideNetns, "route", "show").out();
            assertTrue(outsideRoutes.strip().lines().count() == 1 && outsideRoutes.startsWith("192.168.77.0/24 dev eth0"),
                    "the outside host has the underlay's route only (no pod CIDR, no default): " + outsideRoutes);
            assertFalse(Sh.run("ip", "-n", outsideNetns, "route", "get", "10.10.0.1").ok(), "no route to the cluster CIDR");
            assertTrue(Files.exists(cli.home.resolve("pids/host-outside.pid")) && Files.exists(cli.home.resolve("pids/host-node1.pid")));
            assertNotEquals(0, cli.run("up", "--nodes", "2").exitCode(), "a second up while running must refuse");

            List<Procs.Recorded> procs = recorded(cli.home);
            // The API server, the cluster-controller, the podman kubelet and the 3 host responders: no service jar.
            assertTrue(procs.size() >= 6, "processes recorded: " + procs);
            assertTrue(procs.stream().allMatch(Procs.Recorded::alive));
            theSystemPodsRunAsContainers(cli, id);
            aChangedTemplateRollsOutOnePodAtATime(cli, id);

            assertEquals(0, cli.launch(120, "down").exitCode());
            assertNothingLeft(id, procs);
            assertTrue(cli.ok("down").contains("0 processes stopped, 0 network namespaces removed"), "a second down finds nothing");
        } finally {
            cli.run("down");
        }
    }

    @Test
    void downRemovesWhatACrashedUpLeft() throws Exception {
        Cli cli = new Cli("crash");
        try {
            ProcessBuilder pb = new ProcessBuilder(cli.repo.resolve("localcluster").toString(), "up", "--nodes", "2")
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD);
            pb.environment().put("LOCALCLUSTER_HOME", cli.home.toString());
            Process up = pb.start();
            // Kill it (SIGKILL, no clean-up of its own) once the cluster is half made: the second node's Open vSwitch
            // container runs (the kubelet and the API server it started go on without it).
            Path clusterJson = cli.home.resolve("cluster.json");
            String id = null;
            long deadline = System.currentTimeMillis() + 300_000;
            while (up.isAlive() && System.currentTimeMillis() < deadline
                    && (id == null || !containers(id).contains("wft-" + id + "-weft-agent-node2-openvswitch"))) {
                if (id == null && Files.exists(clusterJson)) {
                    id = Layout.JSON.readTree(clusterJson.toFile()).get("id").asText();
                }
                Thread.sleep(200);
            }
            assertTrue(up.isAlive(), "up ended before node2's openvswitch container ran");
            up.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            List<Procs.Recorded> procs = recorded(cli.home);
            assertFalse(procs.isEmpty());
            assertFalse(containers(id).isEmpty());

            cli.ok("down");
            assertNothingLeft(id, procs);
        } finally {
            cli.run("down");
        }
    }

    private static List<Procs.Recorded> recorded(Path home) throws Exception {
        try (var s = Files.list(home.resolve("pids"))) {
            return s.filter(p -> p.toString().endsWith(".pid")).map(Procs::read).flatMap(java.util.Optional::stream).toList();
        }
    }

    /**
     * {@code podman ps}: each node's openvswitch and agent containers (the weft-agent DaemonSet's pod) and one
     * ipam-service and one policy-service replica per node (required anti-affinity); {@code status -o json} says where
     * each system pod's ports are (Service, port name, node address, the node's netns) and which container runs it;
     * the EndpointSlices the agents find the control plane by point at both nodes; a container's log.
     */
    private static void theSystemPodsRunAsContainers(Cli cli, String id) throws Exception {
        String ps = Podman.exec(List.of("podman", "ps", "--filter", "label=" + PodmanKubelet.LABEL + "=" + id,
                "--filter", "status=running", "--format", "{{.Names}} {{.ID}}"), 60).out();
        Set<String> running = new TreeSet<>();
        List<String> ids = new ArrayList<>();
        ps.lines().map(String::strip).filter(l -> !l.isEmpty()).map(l -> l.split(" ")).forEach(f -> {
            running.add(f[0]);
            ids.add(f[1]);
        });
        for (String node : List.of("node1", "node2")) {
            for (String c : List.of("openvswitch", "agent")) {
                assertTrue(running.contains("wft-" + id + "-weft-agent-" + node + "-" + c), c + " of " + node + ": " + ps);
            }
        }
        JsonNode status = Layout.JSON.readTree(cli.ok("status", "-o", "json"));
        assertTrue(status.at("/api/nodeUrl").asText().startsWith("http://" + Topology.API_IP + ":"), status.toString());
        for (String app : List.of("ipam-service", "policy-service")) {
            Set<String> nodes = new TreeSet<>();
            for (JsonNode pod : status.get("systemPods")) {
                if (pod.get("name").asText().startsWith(app + "-")) {
                    assertTrue(pod.get("ready").asBoolean(), pod.toString());
                    nodes.add(pod.get("node").asText());
                    String cid = pod.at("/containers/0/containerID").asText().replace("podman://", "");
                    assertTrue(ids.stream().anyMatch(cid::startsWith), "container " + cid + " of " + pod + " runs: " + ps);
                    int port = app.equals("ipam-service") ? 9091 : 9092;
                    JsonNode endpoint = pod.at("/endpoints/0");
                    assertEquals(app, pod.get("service").asText(), pod.toString());
                    assertEquals(List.of(app, "grpc", pod.get("podIP").asText(), String.valueOf(port), "TCP",
                                    "wft-" + id + "-" + pod.get("node").asText()),
                            List.of(endpoint.get("service").asText(), endpoint.get("name").asText(), endpoint.get("address").asText(),
                                    endpoint.get("port").asText(), endpoint.get("protocol").asText(), endpoint.get("netns").asText()),
                            pod.toString());
                }
            }
            assertEquals(Set.of("node1", "node2"), nodes, app + ": one replica per node (required anti-affinity)");
        }
        for (JsonNode pod : status.get("systemPods")) {
            if (pod.get("name").asText().startsWith("weft-agent-")) {
                assertEquals(List.of("http", "9093", pod.get("podIP").asText()), List.of(pod.at("/endpoints/0/name").asText(),
                        pod.at("/endpoints/0/port").asText(), pod.at("/endpoints/0/address").asText()), pod.toString());
            }
        }
        String slices = cli.ok("get", "endpointslices", "-n", "weft-system");
        assertTrue(slices.contains("192.168.77.11") && slices.contains("192.168.77.12"), slices);
        assertTrue(cli.ok("logs", "weft-agent-node1", "-c", "openvswitch").contains("start-ovs"), "openvswitch's log");
    }

    /**
     * {@code kubectl rollout restart} of the agent's DaemonSet and ipam-service's Deployment (the annotation it sets on
     * the template): every pod is replaced from the new template, at most one of each unready at any time, each with
     * new containers, and all Ready at the end.
     */
    private static void aChangedTemplateRollsOutOnePodAtATime(Cli cli, String id) throws Exception {
        String url = Layout.JSON.readTree(cli.home.resolve("cluster.json").toFile()).get("apiUrl").asText();
        try (var api = Kube.client(url)) {
            var pods = api.pods().inNamespace(PodmanKubelet.NAMESPACE);
            java.util.function.Function<String, List<io.fabric8.kubernetes.api.model.Pod>> of = prefix -> pods.list().getItems().stream()
                    .filter(p -> p.getMetadata().getName().startsWith(prefix)).toList();
            Set<String> agentsBefore = new TreeSet<>();
            of.apply("weft-agent-").forEach(p -> agentsBefore.add(p.getMetadata().getUid()));
            Set<String> ipamBefore = new TreeSet<>();
            of.apply("ipam-service-").forEach(p -> ipamBefore.add(p.getMetadata().getUid()));
            String containersBefore = Podman.exec(List.of("podman", "ps", "--filter", "label=" + PodmanKubelet.LABEL + "=" + id,
                    "--format", "{{.ID}}"), 60).out();
            String now = java.time.Instant.now().toString();
            api.apps().daemonSets().inNamespace(PodmanKubelet.NAMESPACE).withName("weft-agent").edit(ds -> {
                ds.getSpec().getTemplate().getMetadata().getAnnotations().put("kubectl.kubernetes.io/restartedAt", now);
                return ds;
            });
            api.apps().deployments().inNamespace(PodmanKubelet.NAMESPACE).withName("ipam-service").edit(d -> {
                if (d.getSpec().getTemplate().getMetadata().getAnnotations() == null) {
                    d.getSpec().getTemplate().getMetadata().setAnnotations(new java.util.HashMap<>());
                }
                d.getSpec().getTemplate().getMetadata().getAnnotations().put("kubectl.kubernetes.io/restartedAt", now);
                return d;
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
            int leastAgentsReady = 2;
            int leastIpamReady = 2;
            while (true) {
                var agents = of.apply("weft-agent-");
                var ipam = of.apply("ipam-service-");
                int agentsReady = (int) agents.stream().filter(BundleDeployment::ready).count();
                int ipamReady = (int) ipam.stream().filter(BundleDeployment::ready).count();
                leastAgentsReady = Math.min(leastAgentsReady, agentsReady);
                leastIpamReady = Math.min(leastIpamReady, ipamReady);
                boolean agentsDone = agents.size() == 2 && agentsReady == 2
                        && agents.stream().noneMatch(p -> agentsBefore.contains(p.getMetadata().getUid()));
                boolean ipamDone = ipam.size() == 2 && ipamReady == 2
                        && ipam.stream().noneMatch(p -> ipamBefore.contains(p.getMetadata().getUid()));
                if (agentsDone && ipamDone) {
                    break;
                }
                assertTrue(System.nanoTime() < deadline, "rollout not done after 300 s: agents " + agents.stream()
                        .map(p -> p.getMetadata().getName() + " ready=" + BundleDeployment.ready(p)).toList()
                        + ", ipam " + ipam.stream().map(p -> p.getMetadata().getName() + " ready=" + BundleDeployment.ready(p)).toList()
                        + cli.logs());
                Procs.sleep(500);
            }
            assertTrue(leastAgentsReady >= 1, "both agents were unready at once");
            assertTrue(leastIpamReady >= 1, "both ipam-service replicas were unready at once");
            for (String node : List.of("node1", "node2")) {
                String agentContainer = Podman.exec(List.of("podman", "inspect", "--format", "{{.Id}}",
                        "wft-" + id + "-weft-agent-" + node + "-agent"), 60).out().strip();
                assertFalse(agentContainer.isEmpty() || containersBefore.contains(agentContainer.substring(0, 12)),
                        "the agent container of " + node + " was replaced: " + agentContainer + " in " + containersBefore);
            }
        }
    }

    /** The names of the cluster's containers, running or not. */
    private static List<String> containers(String id) throws Exception {
        return Podman.exec(List.of("podman", "ps", "-a", "--filter", "label=" + PodmanKubelet.LABEL + "=" + id,
                "--format", "{{.Names}}"), 60).out().lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
    }

    private static void assertNothingLeft(String id, List<Procs.Recorded> procs) throws Exception {
        assertEquals(List.of(), containers(id), "containers left");
        String netns = Sh.check("ip", "netns", "list").out();
        assertFalse(netns.contains("wft-" + id + "-"), "namespaces left: " + netns);
        for (Procs.Recorded p : procs) {
            assertFalse(p.alive(), "process left: " + p);
        }
    }
}
