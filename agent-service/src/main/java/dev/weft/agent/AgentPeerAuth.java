package dev.weft.agent;

import dev.weft.proto.agent.v1.AgentQueryGrpc;
import dev.weft.proto.agent.v1.TracePhase;
import dev.weft.proto.agent.v1.TraceflowRequest;
import dev.weft.security.auth.AccessPolicy;
import dev.weft.security.auth.AccessRule;
import dev.weft.security.auth.AuthInterceptor;
import dev.weft.security.auth.Refusal;
import dev.weft.security.auth.TokenVerifier;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Singleton;

import java.time.Duration;
import java.time.InstantSource;
import java.util.Map;
import java.util.Set;

/**
 * Who the agent's HTTP port answers (docs/security.md "The agent's peer port"). The port is reachable from the node
 * network, so it serves one thing: the cross-node phases of traceflow (arm, collect) that another node's agent asks
 * for, authenticated by that agent's pod-bound token of the peer audience (TokenReview, checked against its Pod) and
 * its ServiceAccount. Every other AgentQuery method, and a Traceflow that would start a trace here, is refused with
 * PERMISSION_DENIED naming the local socket weftctl uses. gRPC health needs no token. Refusals count in
 * {@code weft_agent_auth_refused_total{reason}}. The UNIX socket server ({@link LocalApiServer}) does not pass
 * through here: its file mode is its check.
 */
@Singleton
@GlobalInterceptor
public class AgentPeerAuth implements ServerInterceptor {

    static final String METRIC = "weft.agent.auth.refused";
    static final String TRACEFLOW = AgentQueryGrpc.getTraceflowMethod().getFullMethodName();

    private final boolean enabled;
    private final AuthInterceptor auth;
    private final String socket;

    AgentPeerAuth(AgentConfig config, Instance<KubernetesClient> kubernetes, MeterRegistry registry) {
        AgentConfig.PeerAuth peer = config.peerAuth();
        this.enabled = peer.enabled();
        this.socket = config.localApiSocket().toString();
        AccessPolicy policy = new AccessPolicy(Set.of(AccessPolicy.HEALTH_SERVICE),
                Map.of(TRACEFLOW, new AccessRule(Set.copyOf(peer.serviceAccounts()), Set.of(), "")),
                new AccessRule(Set.of(), Set.of(), ""));
        this.auth = enabled ? new AuthInterceptor(true, new TokenVerifier(kubernetes.get(),
                new TokenVerifier.Settings(peer.audience(), Duration.ofSeconds(60), Duration.ofSeconds(10), 256, 4),
                InstantSource.system()), policy, AuthInterceptor.Resumer.vertxContext(), registry, METRIC) : null;
    }

    @PreDestroy
    void stop() {
        if (auth != null) {
            auth.close();
        }
    }

    @Override
    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                                                       ServerCallHandler<Q, A> next) {
        if (!enabled) {
            return next.startCall(call, headers);
        }
        String method = call.getMethodDescriptor().getFullMethodName();
        if (method.startsWith(AccessPolicy.HEALTH_SERVICE + "/")) {
            return next.startCall(call, headers);
        }
        if (!method.equals(TRACEFLOW)) {
            // Refused before any token review: the method is wrong whoever asks.
            return auth.refuse(call, new Refusal(Refusal.Reason.METHOD, method + " is not served on the agent's"
                    + " network port; on the node, use the local socket " + socket + " (weftctl --socket)"));
        }
        return auth.interceptCall(call, headers, (c, h) -> auth.checkingRequests(next.startCall(c, h), c,
                this::peerPhaseOnly));
    }

    /** Another agent may arm or collect a trace here, never start one from this node. */
    private Refusal peerPhaseOnly(Object message) {
        if (message instanceof TraceflowRequest r && r.getPeerPhase() != TracePhase.TRACE_PHASE_ARM
                && r.getPeerPhase() != TracePhase.TRACE_PHASE_COLLECT) {
            return new Refusal(Refusal.Reason.METHOD, "another agent may only arm or collect a trace here; start a"
                    + " trace on its source node (weftctl traceflow, local socket " + socket + ")");
        }
        return null;
    }
}
