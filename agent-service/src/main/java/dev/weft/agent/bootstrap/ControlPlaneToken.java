package dev.weft.agent.bootstrap;

import dev.weft.agent.AgentConfig;
import dev.weft.security.auth.BearerTokenFile;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.MethodDescriptor;
import io.quarkus.grpc.GlobalInterceptor;
import jakarta.inject.Singleton;

import java.util.Optional;

/**
 * The agent's identity on its calls to ipam-service and policy-service (every Quarkus-managed gRPC client): the
 * token in {@code agent.control-plane-token-file}, read again whenever the kubelet rotates it.
 */
@Singleton
@GlobalInterceptor
public class ControlPlaneToken implements ClientInterceptor {

    private final Optional<BearerTokenFile> token;

    ControlPlaneToken(AgentConfig config) {
        this.token = config.controlPlaneTokenFile().map(BearerTokenFile::new);
    }

    @Override
    public <Q, A> ClientCall<Q, A> interceptCall(MethodDescriptor<Q, A> method, CallOptions options, Channel next) {
        return token.isPresent() ? token.get().interceptCall(method, options, next) : next.newCall(method, options);
    }
}
