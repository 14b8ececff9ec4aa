package dev.weft.agent.bootstrap;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.NameResolverRegistry;
import io.grpc.netty.NettyChannelBuilder;
import io.quarkus.grpc.api.ChannelBuilderCustomizer;
import io.quarkus.grpc.runtime.config.GrpcClientConfiguration;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;

import java.util.Map;

/**
 * Where the agent's gRPC channels to ipam-service and policy-service get their target resolved. With
 * {@code agent.control-plane-discovery=endpointslices} application.properties sets the clients' {@code name-resolver}
 * to {@code endpointslices}, Quarkus builds the target {@code endpointslices://HOST:PORT}, and this customizer hands
 * such a channel the resolver that follows the Service's EndpointSlices with the agent's own Kubernetes client (API
 * server override included). Other channels are left as they are.
 */
@Singleton
public class ControlPlaneDiscovery implements ChannelBuilderCustomizer<NettyChannelBuilder> {

    private final Instance<KubernetesClient> kubernetes;

    @Inject
    ControlPlaneDiscovery(Instance<KubernetesClient> kubernetes) {
        this.kubernetes = kubernetes;
    }

    @Override
    @SuppressWarnings("deprecation") // the per-channel factory keeps the scheme off gRPC's JVM-wide default registry
    public Map<String, Object> customize(String name, GrpcClientConfiguration config, NettyChannelBuilder builder) {
        if (EndpointSliceResolverProvider.SCHEME.equals(config.nameResolver())) {
            NameResolverRegistry registry = new NameResolverRegistry();
            registry.register(new EndpointSliceResolverProvider(kubernetes::get));
            builder.nameResolverFactory(registry.asFactory());
        }
        return Map.of();
    }
}
