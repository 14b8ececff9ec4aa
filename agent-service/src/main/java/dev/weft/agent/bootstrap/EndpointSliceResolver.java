package dev.weft.agent.bootstrap;

import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointPort;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import io.grpc.EquivalentAddressGroup;
import io.grpc.NameResolver;
import io.grpc.Status;
import io.grpc.SynchronizationContext;
import org.jboss.logging.Logger;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * Finds ipam-service and policy-service without a Service proxy or cluster DNS: a gRPC {@link NameResolver} for
 * targets {@code endpointslices://SERVICE.NAMESPACE:PORT} that watches the Service's EndpointSlices
 * ({@code discovery.k8s.io/v1}, label {@code kubernetes.io/service-name=SERVICE}) through the API server and hands the
 * channel every ready endpoint address. The control-plane pods run with hostNetwork, so those addresses are node
 * addresses, reachable before any pod network exists; the endpoints controller keeps them current as pods move, and
 * the channel follows. The port is the slice's port named {@code grpc}, else PORT of the target.
 */
final class EndpointSliceResolver extends NameResolver {

    private static final Logger LOG = Logger.getLogger(EndpointSliceResolver.class);
    static final String SERVICE_NAME_LABEL = "kubernetes.io/service-name";
    static final String PORT_NAME = "grpc";

    /** What a target names: a Service in a namespace, and the port to use when its slices name none. */
    record ServiceTarget(String service, String namespace, int port) {

        static ServiceTarget parse(URI target) {
            String authority = target.getAuthority();
            String host = target.getHost();
            int port = target.getPort();
            int dot = host == null ? -1 : host.indexOf('.');
            if (authority == null || dot <= 0 || dot == host.length() - 1 || host.indexOf('.', dot + 1) >= 0 || port <= 0) {
                throw new IllegalArgumentException("gRPC target " + target + ": expected " + EndpointSliceResolverProvider.SCHEME
                        + "://SERVICE.NAMESPACE:PORT, e.g. " + EndpointSliceResolverProvider.SCHEME + "://ipam-service.weft-system:9091");
            }
            return new ServiceTarget(host.substring(0, dot), host.substring(dot + 1), port);
        }

        @Override
        public String toString() {
            return "Service " + namespace + "/" + service;
        }
    }

    private final ServiceTarget target;
    private final Supplier<KubernetesClient> kubernetes;
    private final SynchronizationContext sync;
    private SharedIndexInformer<EndpointSlice> informer;
    private Listener2 listener;
    private List<InetSocketAddress> published = List.of();

    EndpointSliceResolver(ServiceTarget target, Supplier<KubernetesClient> kubernetes, SynchronizationContext sync) {
        this.target = target;
        this.kubernetes = kubernetes;
        this.sync = sync;
    }

    @Override
    public String getServiceAuthority() {
        return target.service() + "." + target.namespace();
    }

    @Override
    public void start(Listener2 listener) {
        this.listener = listener;
        informer = kubernetes.get().discovery().v1().endpointSlices().inNamespace(target.namespace())
                .withLabel(SERVICE_NAME_LABEL, target.service()).runnableInformer(0);
        informer.addEventHandler(new ResourceEventHandler<>() {
            @Override
            public void onAdd(EndpointSlice slice) {
                changed();
            }

            @Override
            public void onUpdate(EndpointSlice before, EndpointSlice after) {
                changed();
            }

            @Override
            public void onDelete(EndpointSlice slice, boolean finalStateUnknown) {
                changed();
            }
        });
        // Keep trying while the API server is away: the agent may start before it is reachable.
        informer.exceptionHandler((started, t) -> {
            LOG.debugf("EndpointSlices of %s: %s (retrying)", target, t.toString());
            sync.execute(() -> listener.onError(Status.UNAVAILABLE
                    .withDescription("cannot list the EndpointSlices of " + target + ": " + t.getMessage())));
            return true;
        });
        informer.start().whenComplete((ok, failure) -> changed());
    }

    /** Publishes the informer's current view (on the channel's synchronization context, as gRPC requires). */
    private void changed() {
        sync.execute(() -> {
            SharedIndexInformer<EndpointSlice> inf = informer;
            if (inf == null || listener == null || !inf.hasSynced()) {
                return;
            }
            List<InetSocketAddress> addresses = readyAddresses(inf.getStore().list(), target.port());
            if (addresses.isEmpty()) {
                published = List.of();
                listener.onError(Status.UNAVAILABLE.withDescription("no ready endpoint in the EndpointSlices of " + target
                        + " (label " + SERVICE_NAME_LABEL + "=" + target.service() + ")"));
                return;
            }
            if (!addresses.equals(published)) {
                LOG.infof("%s: endpoints %s", target, addresses);
            }
            published = addresses;
            List<EquivalentAddressGroup> groups = addresses.stream().map(EquivalentAddressGroup::new).toList();
            listener.onResult2(ResolutionResult.newBuilder().setAddresses(groups).build());
        });
    }

    /**
     * The addresses of every endpoint not marked unready, in slice and endpoint order, without duplicates (a slice
     * per address family lists the same pod twice). A slice's port named {@code grpc} wins over the default port.
     */
    static List<InetSocketAddress> readyAddresses(Collection<EndpointSlice> slices, int defaultPort) {
        List<InetSocketAddress> out = new ArrayList<>();
        for (EndpointSlice slice : slices) {
            int port = slice.getPorts() == null ? defaultPort : slice.getPorts().stream()
                    .filter(p -> PORT_NAME.equals(p.getName()) && p.getPort() != null)
                    .map(EndpointPort::getPort).findFirst().orElse(defaultPort);
            for (Endpoint endpoint : Objects.requireNonNullElse(slice.getEndpoints(), List.<Endpoint>of())) {
                if (endpoint.getConditions() != null && Boolean.FALSE.equals(endpoint.getConditions().getReady())) {
                    continue;
                }
                for (String address : Objects.requireNonNullElse(endpoint.getAddresses(), List.<String>of())) {
                    InetSocketAddress socket = literal(address, port);
                    if (socket != null && !out.contains(socket)) {
                        out.add(socket);
                    }
                }
            }
        }
        return out;
    }

    /** Endpoint addresses are IP literals; anything else (an FQDN slice) is skipped rather than resolved by DNS. */
    private static InetSocketAddress literal(String address, int port) {
        if (address == null || !(address.indexOf(':') >= 0 || address.chars().allMatch(c -> c == '.' || Character.isDigit(c)))) {
            return null;
        }
        try {
            return new InetSocketAddress(InetAddress.getByName(address), port);
        } catch (UnknownHostException e) {
            return null;
        }
    }

    @Override
    public void refresh() {
        // The informer pushes every change; a re-resolution request republishes what it holds.
        changed();
    }

    @Override
    public void shutdown() {
        SharedIndexInformer<EndpointSlice> inf = informer;
        informer = null;
        if (inf != null) {
            inf.stop();
        }
    }
}
