package dev.weft.localcluster;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.time.Duration;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Traceflow on the three-node local cluster: {@code ./localcluster antctl --node node1 traceflow} from busybox on node1
 * to nginx on node2 is Delivered, observed by both nodes' agents (the probe crosses the tunnel); with the walkthrough's
 * nginx-allow (nginx accepts only from nginx) it is Dropped on node2 in IngressDefaultRule with the policy named.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TraceflowIT {

    private Cli cli;

    @BeforeAll
    void up() {
        Cli.requireRootAndOvs();
        cli = new Cli("traceflow");
        cli.ok("up", "--nodes", "3");
    }

    @AfterAll
    void down() {
        if (cli != null) {
            cli.run("down");
        }
    }

    @Test
    void busyboxToNginxAcrossNodesIsDeliveredThenDroppedByNginxAllow() throws Exception {
        cli.ok("apply", "-f", cli.write("tf.yaml", Conformance.namespace("tf") + Conformance.pod("tf", "busybox", "node1")
                + Conformance.pod("tf", "nginx", "node2")).toString());
        cli.ok("probe", "--from", "tf/busybox", "--to", "tf/nginx", "--port", "80");

        JsonNode open = trace();
        assertEquals("Delivered", open.get("result").asText(), open.toString());
        assertEquals(2, open.get("nodes").size(), open.toString());
        assertEquals("node1", open.at("/nodes/0/node").asText());
        assertTrue(open.at("/nodes/0/observations").toString().contains("into the tunnel"), open.toString());
        assertEquals("node2", open.at("/nodes/1/node").asText());
        JsonNode last = lastObservation(open, 1);
        assertEquals("Output", last.get("component").asText());
        assertEquals("to pod tf/nginx", last.get("info").asText());
        cli.ok("antctl", "--node", "node1", "traceflow", "-S", "tf/busybox", "-D", "tf/nginx", "-f", "tcp,tcp_dst=80");

        cli.ok("apply", "-f", cli.write("tf-policy.yaml", Conformance.policy("tf", "nginx-allow", """
                podSelector:
                  matchLabels: {pod: nginx}
                ingress:
                - from:
                  - podSelector:
                      matchLabels: {pod: nginx}
                """)).toString());
        await().atMost(Duration.ofSeconds(60)).until(() -> cli.run("probe", "--from", "tf/busybox", "--to", "tf/nginx",
                "--port", "80", "--timeout-ms", "500").exitCode() != 0);

        JsonNode denied = trace();
        assertEquals("Dropped", denied.get("result").asText(), denied.toString());
        JsonNode drop = lastObservation(denied, denied.get("nodes").size() - 1);
        assertEquals("node2", denied.at("/nodes/" + (denied.get("nodes").size() - 1) + "/node").asText(), denied.toString());
        assertEquals("IngressDefaultRule", drop.get("component").asText(), denied.toString());
        assertEquals("tf/nginx-allow", drop.get("networkPolicy").asText(), denied.toString());
        cli.ok("antctl", "--node", "node1", "traceflow", "-S", "tf/busybox", "-D", "tf/nginx", "-f", "tcp,tcp_dst=80");
        cli.ok("delete", "-f", cli.write("tf-ns.yaml", Conformance.namespace("tf")).toString());
    }

    /** The agents called each other with peer tokens above; without one, node2's port answers nothing but health. */
    @Test
    void anAgentsNetworkPortAnswersOnlyPeerAgents() {
        ClusterState cluster = new Layout(cli.home, cli.repo).requireCluster();
        ClusterState.NodeState node2 = cluster.node("node2");
        // The agent's port on the node's address (its pod IP, hostNetwork), reached from here over the underlay.
        String host = node2.ip();
        io.grpc.ManagedChannel ch = io.grpc.ManagedChannelBuilder.forAddress(host, node2.agentPort())
                .usePlaintext().build();
        try {
            var stub = dev.weft.proto.agent.v1.AgentQueryGrpc.newBlockingStub(ch);
            io.grpc.Status query = assertThrows(io.grpc.StatusRuntimeException.class, () -> stub
                    .withDeadlineAfter(10, java.util.concurrent.TimeUnit.SECONDS)
                    .dumpFlows(dev.weft.proto.agent.v1.DumpFlowsRequest.getDefaultInstance())).getStatus();
            assertEquals(io.grpc.Status.Code.PERMISSION_DENIED, query.getCode(), query.toString());
            io.grpc.Status arm = assertThrows(io.grpc.StatusRuntimeException.class, () -> stub
                    .withDeadlineAfter(10, java.util.concurrent.TimeUnit.SECONDS)
                    .traceflow(dev.weft.proto.agent.v1.TraceflowRequest.newBuilder().setTag(9).setTimeoutSeconds(1)
                            .setPeerPhase(dev.weft.proto.agent.v1.TracePhase.TRACE_PHASE_ARM).build())).getStatus();
            assertEquals(io.grpc.Status.Code.UNAUTHENTICATED, arm.getCode(), arm.toString());
        } finally {
            ch.shutdownNow();
        }
    }

    private JsonNode trace() throws Exception {
        String out = cli.ok("antctl", "--node", "node1", "traceflow", "-S", "tf/busybox", "-D", "tf/nginx",
                "-f", "tcp,tcp_dst=80", "-o", "json");
        return Layout.JSON.readTree(out.substring(out.indexOf('{')));
    }

    private static JsonNode lastObservation(JsonNode trace, int node) {
        JsonNode obs = trace.at("/nodes/" + node + "/observations");
        return obs.get(obs.size() - 1);
    }
}
