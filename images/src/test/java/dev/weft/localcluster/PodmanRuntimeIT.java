package dev.weft.localcluster;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@code ./localcluster up --runtime=podman}: Weft from the bundle and the images built before this test (it runs in
 * the images module, after {@code -Pimages} has built them), its system pods as podman containers. Two nodes: each runs
 * the agent DaemonSet's openvswitch and agent containers, and the control plane's two Deployments have their replicas
 * on different nodes; the Antrea walkthrough (demo) with its before/after matrices; the NetworkPolicy conformance
 * cases; weftctl in an agent container;
 * restart-agent restarts the container as a kubelet would, and the pods keep their connectivity.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PodmanRuntimeIT {
    private Cli cli;
    private String id;

    @BeforeAll
    void up() throws Exception {
        Cli.requireRootAndOvs();
        boolean podman = Podman.exec(List.of("sh", "-c", "command -v podman"), 10).exit() == 0;
        if (!podman) {
            if ("true".equals(System.getenv("CI"))) {
                fail("the podman runtime IT needs podman (CI=true)");
            }
            org.junit.jupiter.api.Assumptions.abort("podman is not installed");
        }
        cli = new Cli("podman");
        cli.ok("up", "--nodes", "2", "--runtime=podman");
        id = new Layout(cli.home, cli.repo).requireCluster().id();
    }

    @AfterAll
    void down() throws Exception {
        if (cli != null) {
            cli.run("down");
            assertEquals("", containers().trim(), "down removes every container of the cluster");
        }
    }

    private String containers() throws Exception {
        return Podman.exec(List.of("podman", "ps", "-a", "--filter", "label=" + PodmanKubelet.LABEL + "=" + id,
                "--format", "{{.Names}} {{.ID}}"), 60).out();
    }

    private String running() throws Exception {
        return Podman.exec(List.of("podman", "ps", "--filter", "label=" + PodmanKubelet.LABEL + "=" + id,
                "--filter", "status=running", "--format", "{{.Names}} {{.ID}}"), 60).out();
    }

    @Test
    @Order(1)
    void theSystemPodsRunAsContainers() throws Exception {
        String ps = running();
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
        assertEquals("podman", status.get("runtime").asText());
        assertTrue(status.at("/api/nodeUrl").asText().startsWith("http://" + Topology.API_IP + ":"), status.toString());
        for (String app : List.of("ipam-service", "policy-service")) {
            Set<String> nodes = new TreeSet<>();
            for (JsonNode pod : status.get("systemPods")) {
                if (pod.get("name").asText().startsWith(app + "-")) {
                    assertTrue(pod.get("ready").asBoolean(), pod.toString());
                    nodes.add(pod.get("node").asText());
                    String cid = pod.at("/containers/0/containerID").asText().replace("podman://", "");
                    assertTrue(ids.stream().anyMatch(cid::startsWith), "container " + cid + " of " + pod + " runs: " + ps);
                    String port = app.equals("ipam-service") ? "9091" : "9092";
                    assertEquals(pod.get("podIP").asText() + ":" + port, pod.at("/endpoints/0").asText());
                }
            }
            assertEquals(Set.of("node1", "node2"), nodes, app + ": one replica per node (required anti-affinity)");
        }
        String slices = cli.ok("get", "endpointslices", "-n", "weft-system");
        assertTrue(slices.contains("192.168.77.11") && slices.contains("192.168.77.12"), slices);
        assertTrue(cli.ok("logs", "weft-agent-node1", "-c", "openvswitch").contains("start-ovs"), "openvswitch's log");
    }

    @Test
    @Order(2)
    void antreaWalkthrough() throws Exception {
        String out = cli.ok("demo");
        assertTrue(out.contains("conjunction("), "IngressRule flows (weftctl in the agent container) show the conjunctions:\n" + out);
        WalkthroughIT.assertDemoMatrices(cli);
    }

    /** The upstream-style NetworkPolicy conformance cases (9x9 matrices) on the containerized deployment. */
    @Test
    @Order(3)
    void networkPolicyConformance() throws Exception {
        Conformance.runSuite(cli);
    }

    @Test
    @Order(4)
    void restartAgentRestartsItsContainer() throws Exception {
        String before = Podman.exec(List.of("podman", "inspect", "--format", "{{.State.StartedAt}}",
                Verbs.agentContainer(new Layout(cli.home, cli.repo).requireCluster(),
                        new Layout(cli.home, cli.repo).requireCluster().node("node2"))), 30).out().strip();
        cli.ok("restart-agent", "--node", "node2");
        String after = Podman.exec(List.of("podman", "inspect", "--format", "{{.State.StartedAt}}",
                "wft-" + id + "-weft-agent-node2-agent"), 30).out().strip();
        assertTrue(!before.equals(after), "started again: " + before + " / " + after);
        // The pods of both nodes still reach each other across the tunnel (nginx pods: allowed from nginx pods).
        JsonNode pods = Layout.JSON.readTree(cli.ok("get", "pods", "-l", "app=nginx", "-o", "json"));
        List<String> nginx = new ArrayList<>();
        pods.get("items").forEach(p -> nginx.add(p.at("/metadata/namespace").asText() + "/" + p.at("/metadata/name").asText()
                + " " + p.at("/spec/nodeName").asText()));
        String on1 = nginx.stream().filter(s -> s.endsWith(" node1")).findFirst().orElseThrow().split(" ")[0];
        String on2 = nginx.stream().filter(s -> s.endsWith(" node2")).findFirst().orElseThrow().split(" ")[0];
        cli.ok("probe", "--from", on1, "--to", on2, "--port", "80");
        cli.ok("probe", "--from", on2, "--to", on1, "--port", "80");
        assertTrue(cli.ok("antctl", "--node", "node2", "get", "podinterfaces").contains("nginx-"), "weftctl in node2's agent container");
    }
}
