package dev.weft.agent.bootstrap;

import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.NameResolver;
import io.grpc.NameResolverProvider;

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.URI;
import java.util.Collection;
import java.util.List;
import java.util.function.Supplier;

/**
 * The {@code endpointslices} scheme for gRPC channels: targets {@code endpointslices://SERVICE.NAMESPACE:PORT} resolve
 * through {@link EndpointSliceResolver}. {@link ControlPlaneDiscovery} gives it to the agent's channels.
 */
final class EndpointSliceResolverProvider extends NameResolverProvider {

    static final String SCHEME = "endpointslices";

    private final Supplier<KubernetesClient> kubernetes;

    EndpointSliceResolverProvider(Supplier<KubernetesClient> kubernetes) {
        this.kubernetes = kubernetes;
    }

    @Override
    public NameResolver newNameResolver(URI targetUri, NameResolver.Args args) {
        if (!SCHEME.equals(targetUri.getScheme())) {
            return null;
        }
        return new EndpointSliceResolver(EndpointSliceResolver.ServiceTarget.parse(targetUri), kubernetes,
                args.getSynchronizationContext());
    }

    @Override
    public String getDefaultScheme() {
        return SCHEME;
    }

    @Override
    protected boolean isAvailable() {
        return true;
    }

    @Override
    protected int priority() {
        return 5;
    }

    @Override
    public Collection<Class<? extends SocketAddress>> getProducedSocketAddressTypes() {
        return List.of(InetSocketAddress.class);
    }
}
