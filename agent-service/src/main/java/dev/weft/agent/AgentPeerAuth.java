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
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.micrometer.core.instrument.Counter;
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
    private final Counter refusedMethod;
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
        this.refusedMethod = Counter.builder(METRIC).tag("reason", Refusal.Reason.METHOD.label())
                .description("gRPC calls refused by authentication or authorization, by reason").register(registry);
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
            return refuse(call, method + " is not served on the agent's network port; on the node, use the local"
                    + " socket " + socket + " (weftctl --socket)");
        }
        return auth.interceptCall(call, headers, (c, h) -> new PeerPhaseOnly<>(next.startCall(c, h), c));
    }

    private <Q> ServerCall.Listener<Q> refuse(ServerCall<Q, ?> call, String message) {
        refusedMethod.increment();
        call.close(new Refusal(Refusal.Reason.METHOD, message).status(), new Metadata());
        return new ServerCall.Listener<>() {
        };
    }

    /** Passes a Traceflow request on only when it is a peer phase (arm, collect), never a trace started from here. */
    private final class PeerPhaseOnly<Q> extends ForwardingServerCallListener.SimpleForwardingServerCallListener<Q> {
        private final ServerCall<Q, ?> call;
        private boolean refusedCall;

        PeerPhaseOnly(ServerCall.Listener<Q> delegate, ServerCall<Q, ?> call) {
            super(delegate);
            this.call = call;
        }

        @Override
        public void onMessage(Q message) {
            if (message instanceof TraceflowRequest r && r.getPeerPhase() != TracePhase.TRACE_PHASE_ARM
                    && r.getPeerPhase() != TracePhase.TRACE_PHASE_COLLECT) {
                refusedCall = true;
                refuse(call, "another agent may only arm or collect a trace here; start a trace on its source node"
                        + " (weftctl traceflow, local socket " + socket + ")");
                return;
            }
            super.onMessage(message);
        }

        @Override
        public void onHalfClose() {
            if (!refusedCall) {
                super.onHalfClose();
            }
        }

        @Override
        public void onCancel() {
            if (!refusedCall) {
                super.onCancel();
            }
        }

        @Override
        public void onComplete() {
            if (!refusedCall) {
                super.onComplete();
            }
        }

        @Override
        public void onReady() {
            if (!refusedCall) {
                super.onReady();
            }
        }
    }
}
