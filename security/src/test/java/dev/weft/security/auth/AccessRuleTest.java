package dev.weft.security.auth;

import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AccessRuleTest {

    static final CallerIdentity AGENT_A = new CallerIdentity("weft-system", "weft-agent", "weft-agent-x1", "u1", "node-a");
    static final CallerIdentity POLICY = new CallerIdentity("weft-system", "policy-service", "policy-0", "u2", "node-c");
    static final CallerIdentity OTHER = new CallerIdentity("default", "default", "busybox", "u3", "node-a");

    final AccessRule report = new AccessRule(Set.of("weft-system:policy-service"), Set.of("weft-system:weft-agent"),
            "node_name");

    @Test
    void agentsAreAllowedForTheirOwnNodePeersForAnyOthersNot() {
        var own = assertInstanceOf(AccessRule.Decision.OwnNodeOnly.class, report.decide(AGENT_A, "m"));
        assertEquals("node_name", own.nodeField());
        assertEquals("node-a", own.callerNode());
        assertInstanceOf(AccessRule.Decision.Allow.class, report.decide(POLICY, "m"));
        var deny = assertInstanceOf(AccessRule.Decision.Deny.class, report.decide(OTHER, "c.v1.ControlPlane/ReportStatus"));
        assertEquals(Refusal.Reason.SERVICE_ACCOUNT, deny.refusal().reason());
        assertEquals("c.v1.ControlPlane/ReportStatus does not answer ServiceAccount default:default (pod default/busybox"
                + " on node node-a); it answers weft-system:policy-service, weft-system:weft-agent (own node only)",
                deny.refusal().message());
    }

    @Test
    void anAgentWithoutANodeIsDenied() {
        var noNode = new CallerIdentity("weft-system", "weft-agent", "p", "u", "");
        assertEquals(Refusal.Reason.NODE, assertInstanceOf(AccessRule.Decision.Deny.class,
                report.decide(noNode, "m")).refusal().reason());
    }

    @Test
    void anyCallerAndPublicServices() {
        assertInstanceOf(AccessRule.Decision.Allow.class, AccessRule.anyCaller().decide(OTHER, "m"));
        AccessPolicy p = new AccessPolicy(Set.of(AccessPolicy.HEALTH_SERVICE), Map.of("a.B/C", report),
                AccessRule.anyCaller());
        assertTrue(p.isPublic("grpc.health.v1.Health/Check"));
        assertTrue(p.isPublic("grpc.health.v1.Health/Watch"));
        assertFalse(p.isPublic("grpc.reflection.v1.ServerReflection/ServerReflectionInfo"));
        assertFalse(p.isPublic("grpc.health.v1.HealthX/Check"));
        assertEquals(report, p.rule("a.B/C"));
        assertEquals(AccessRule.anyCaller(), p.rule("a.B/D"));
    }
}
