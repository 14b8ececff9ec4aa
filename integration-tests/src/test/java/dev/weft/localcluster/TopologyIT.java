package dev.weft.localcluster;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** up/down of the topology with the real services: what is created, that {@code down} removes all of it, twice, and after a crash. */
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
                var vsctl = Sh.run(List.of("ovs-vsctl", "--db=unix:" + node.get("ovsRunDir").asText() + "/db.sock",
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
            assertTrue(procs.size() >= 2 * 3 + 4 + 3, "processes recorded (with the 3 host responders): " + procs);
            assertTrue(procs.stream().allMatch(Procs.Recorded::alive));

            assertEquals(0, cli.launch(120, "down").exitCode());
            assertNothingLeft(id, procs);
            assertTrue(cli.ok("down").contains("0 processes stopped, 0 network namespaces removed"));
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
            // Kill it (SIGKILL, no clean-up of its own) once the topology is half made: the second node's OVS runs.
            Path marker = cli.home.resolve("pids/node2-ovs-vswitchd.pid");
            long deadline = System.currentTimeMillis() + 120_000;
            while (!Files.exists(marker) && up.isAlive() && System.currentTimeMillis() < deadline) {
                Thread.sleep(20);
            }
            up.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            String id = Layout.JSON.readTree(cli.home.resolve("cluster.json").toFile()).get("id").asText();
            List<Procs.Recorded> procs = recorded(cli.home);
            assertFalse(procs.isEmpty());

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

    private static void assertNothingLeft(String id, List<Procs.Recorded> procs) {
        String netns = Sh.check("ip", "netns", "list").out();
        assertFalse(netns.contains("wft-" + id + "-"), "namespaces left: " + netns);
        for (Procs.Recorded p : procs) {
            assertFalse(p.alive(), "process left: " + p);
        }
    }
}
