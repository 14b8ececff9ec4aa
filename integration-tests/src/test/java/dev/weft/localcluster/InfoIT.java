package dev.weft.localcluster;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The operator's views on a two-node cluster, real everything: {@code get weftagentinfos} and {@code get
 * weftcontrollerinfos} print the CRDs' printer columns from the local API server; the packaged weftctl against a
 * node's agent shows the Antrea walkthrough's groups ({@code get ag|atg}), the agent's own table list in {@code get
 * ovsflows -h} and the build's version in {@code get agentinfo}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class InfoIT {

    private Cli cli;

    @BeforeAll
    void up() {
        Cli.requireRootAndOvs();
        cli = new Cli("info");
        cli.ok("up", "--nodes", "2");
    }

    @AfterAll
    void down() {
        if (cli != null) {
            cli.run("down");
        }
    }

    /** Retries a command until its output satisfies the check (objects are written at a bounded rate). */
    private String eventually(Supplier<String> command, java.util.function.Predicate<String> check) {
        long deadline = System.nanoTime() + 60_000_000_000L;
        String out = command.get();
        while (!check.test(out) && System.nanoTime() < deadline) {
            Procs.sleep(1000);
            out = command.get();
        }
        return out;
    }

    @Test
    void infoObjectsGroupsTablesAndVersion() {
        cli.ok("apply", "-f", cli.repo.resolve("integration-tests/src/main/resources/demo/2-nginx-deployment.yaml").toString());
        cli.ok("apply", "-f", cli.repo.resolve("integration-tests/src/main/resources/demo/3-network-policy.yaml").toString());

        // The first objects may be written before every connection is up; a condition that changes is written within
        // agent.info.condition-check (5 s), not at the next refresh: every agent healthy, OVS and controller connected.
        java.util.function.Predicate<String> allUp = o -> o.contains("node1") && o.contains("node2")
                && o.lines().filter(l -> l.startsWith("node")).allMatch(l -> l.matches("node\\d+\\s+node\\d+\\s+True\\s+True\\s+True\\s.*"));
        String agents = eventually(() -> cli.ok("get", "weftagentinfos"), allUp);
        System.out.print("$ ./localcluster get weftagentinfos\n" + agents);
        assertTrue(agents.startsWith("NAME") && agents.contains("HEALTHY") && agents.contains("SUBNETS")
                && agents.contains("FLOWS"), agents);
        assertTrue(allUp.test(agents), "every agent HEALTHY, OVS and CONTROLLER True:\n" + agents);

        // Two policy-service replicas: the leader writes the object; agents streaming to the other replica count once
        // their forwarded reports reach it (agents report every 30 s): AGENTS 2, POLICIES 1.
        String controller = eventually(() -> cli.ok("get", "weftcontrollerinfos"),
                o -> o.lines().anyMatch(l -> l.startsWith("weft-controller") && l.matches(".*\\bTrue\\s.*\\s2\\s+1\\s.*")));
        System.out.print("$ ./localcluster get weftcontrollerinfos\n" + controller);
        assertTrue(controller.contains("AGENTS") && controller.contains("POLICIES"), controller);
        assertTrue(controller.lines().anyMatch(l -> l.startsWith("weft-controller") && l.matches(".*\\bTrue\\s.*\\s2\\s+1\\s.*")),
                "healthy, 2 agents, 1 policy:\n" + controller);

        String ag = eventually(() -> cli.ok("antctl", "--node", "node1", "get", "addressgroups"), o -> o.contains("[10."));
        System.out.print("$ ./localcluster antctl --node node1 get addressgroups\n" + ag);
        assertTrue(ag.startsWith("NAME") && ag.contains("POD-IPS") && ag.contains("[10."), ag);
        String atg = cli.ok("antctl", "--node", "node1", "get", "atg", "-o", "yaml");
        System.out.print("$ ./localcluster antctl --node node1 get atg -o yaml\n" + atg);
        assertTrue(atg.contains("pod: \"default/nginx-"), atg);

        String help = cli.ok("antctl", "--node", "node1", "get", "ovsflows", "-h");
        assertTrue(help.contains("Weft OVS Flow Tables:") && help.contains("90\tIngressRule") && help.contains("0\tClassification"), help);
        String info = cli.ok("antctl", "--node", "node1", "get", "agentinfo");
        System.out.print("$ ./localcluster antctl --node node1 get agentinfo\n" + info);
        assertTrue(info.contains("0.1.0-SNAPSHOT"), info);
    }
}
