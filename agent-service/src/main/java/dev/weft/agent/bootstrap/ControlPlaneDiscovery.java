package dev.weft.agent.bootstrap;

import dev.weft.security.tls.ClientTls;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.NameResolverRegistry;
import io.grpc.netty.NettyChannelBuilder;
import io.quarkus.grpc.api.ChannelBuilderCustomizer;
import io.quarkus.grpc.runtime.config.GrpcClientConfiguration;
import jakarta.enterprise.inject.Instance;
import jakarta.inject.Inject;
import jakarta.inject.Singleton;
import dev.weft.agent.AgentConfig;

import java.util.Map;

/**
 * Where the agent's gRPC channels to ipam-service and policy-service get their target resolved and their TLS. With
 * {@code agent.control-plane-discovery=endpointslices} application.properties sets the clients' {@code name-resolver}
 * to {@code endpointslices}, Quarkus builds the target {@code endpointslices://HOST:PORT}, and this customizer hands
 * such a channel the resolver that follows the Service's EndpointSlices with the agent's own Kubernetes client (API
 * server override included). With {@code agent.control-plane-tls.enabled} (the default) both channels speak TLS and
 * verify the server's certificate against the CA bundle ({@link ControlPlaneTrust}) under the Service's DNS name
 * ({@code agent.control-plane-tls.ipam-server-name}, {@code ...controlplane-server-name}): the channels dial node
 * addresses, so the name to check is fixed rather than taken from the target. Other channels are left as they are.
 */
@Singleton
public class ControlPlaneDiscovery implements ChannelBuilderCustomizer<NettyChannelBuilder> {

    private final Instance<KubernetesClient> kubernetes;
    private final ControlPlaneTrust trust;
    private final boolean tls;
    private final Map<String, String> serverNames;

    @Inject
    ControlPlaneDiscovery(Instance<KubernetesClient> kubernetes, ControlPlaneTrust trust, AgentConfig config) {
        this.kubernetes = kubernetes;
        this.trust = trust;
        this.tls = config.controlPlaneTls().enabled();
        this.serverNames = Map.of("ipam", config.controlPlaneTls().ipamServerName(),
                "controlplane", config.controlPlaneTls().controlplaneServerName());
    }

    @Override
    @SuppressWarnings("deprecation") // the per-channel factory keeps the scheme off gRPC's JVM-wide default registry
    public Map<String, Object> customize(String name, GrpcClientConfiguration config, NettyChannelBuilder builder) {
        if (EndpointSliceResolverProvider.SCHEME.equals(config.nameResolver())) {
            NameResolverRegistry registry = new NameResolverRegistry();
            registry.register(new EndpointSliceResolverProvider(kubernetes::get));
            builder.nameResolverFactory(registry.asFactory());
        }
        String serverName = serverNames.get(name);
        if (tls && serverName != null) {
            ClientTls.secure(builder, trust.trustManager(), serverName);
        }
        return Map.of();
    }
}
