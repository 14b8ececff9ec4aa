package dev.weft.policy;

import dev.weft.proto.controlplane.v1.ControlPlaneGrpc;
import dev.weft.security.auth.AccessPolicy;
import dev.weft.security.auth.AccessRule;
import dev.weft.security.auth.AuthConfig;
import dev.weft.security.auth.AuthInterceptor;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.annotation.PreDestroy;
import jakarta.inject.Singleton;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Caller identity on the control-plane API (docs/security.md): an agent watches only its own node's span and reports
 * only for its own node; policy-service's own replicas (a follower forwarding its agents' reports to the leader) may
 * report and read status for any node; status queries are read-only and answered for any authenticated caller; gRPC
 * health needs no token. Refusals count in {@code weft_policy_auth_refused_total{reason}}.
 */
@Singleton
@GlobalInterceptor
public class PolicyCallerAuth extends AuthInterceptor {

    static AccessPolicy policy(AuthConfig config) {
        Set<String> agents = Set.copyOf(config.agentServiceAccounts());
        Set<String> peers = Set.copyOf(config.peerServiceAccounts().orElse(List.of()));
        return new AccessPolicy(Set.of(AccessPolicy.HEALTH_SERVICE), Map.of(
                ControlPlaneGrpc.getWatchPoliciesMethod().getFullMethodName(),
                new AccessRule(Set.of(), agents, "node_name"),
                ControlPlaneGrpc.getReportStatusMethod().getFullMethodName(),
                new AccessRule(peers, agents, "node_name")),
                AccessRule.anyCaller());
    }

    PolicyCallerAuth(AuthConfig config, KubernetesClient client, MeterRegistry registry) {
        super(config, client, policy(config), registry, "weft.policy.auth.refused");
    }

    @PreDestroy
    void stop() {
        close();
    }
}
