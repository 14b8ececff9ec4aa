package dev.weft.localcluster;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The JSONPath subset of the printer columns, on the shape a WeftAgentInfo has. */
class InfoTablesTest {

    private static final Map<String, Object> INFO = Map.of(
            "nodeRef", Map.of("name", "node1"),
            "nodeSubnets", List.of("10.10.1.0/24"),
            "agentConditions", List.of(
                    Map.of("type", "AgentHealthy", "status", "True"),
                    Map.of("type", "OpenflowConnectionUp", "status", "False", "reason", "Disconnected")));

    @Test
    void dotsInsideAFilterDoNotSplitThePath() {
        assertEquals(List.of(".agentConditions[?(@.type=='AgentHealthy')]", "status").size(),
                InfoTables.steps(".agentConditions[?(@.type=='AgentHealthy')].status").size());
        assertEquals(List.of("True"), InfoTables.evaluate(INFO, ".agentConditions[?(@.type=='AgentHealthy')].status"));
        assertEquals(List.of("Disconnected"), InfoTables.evaluate(INFO, ".agentConditions[?(@.type==\"OpenflowConnectionUp\")].reason"));
        assertEquals("node1", InfoTables.evaluate(INFO, ".nodeRef.name"));
        assertEquals(List.of("10.10.1.0/24"), InfoTables.evaluate(INFO, ".nodeSubnets"));
        assertNull(InfoTables.evaluate(INFO, ".agentConditions[?(@.type=='Missing')].status"));
        assertNull(InfoTables.evaluate(INFO, ".podRef.name"));
    }
}
