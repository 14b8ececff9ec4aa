package dev.weft.agent.bootstrap;

import dev.weft.proto.ipam.v1.GetNodeCidrsRequest;
import dev.weft.proto.ipam.v1.IpamGrpc;
import dev.weft.proto.ipam.v1.NodeAllocation;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.grpc.ManagedChannel;
import io.grpc.NameResolver;
import io.grpc.NameResolverRegistry;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.SynchronizationContext;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.Test;

import java.net.InetSocketAddress;
import java.net.URI;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The agent finds a control-plane service through its EndpointSlices on a (fake, CRUD) API server. */
@EnableKubernetesMockClient(crud = true)
class EndpointSliceResolverTest {

    KubernetesClient client;

    static EndpointSlice slice(String name, String service, Integer grpcPort, List<String> ready, List<String> unready) {
        EndpointSliceBuilder b = new EndpointSliceBuilder().withNewMetadata().withName(name).withNamespace("weft-system")
                .addToLabels(EndpointSliceResolver.SERVICE_NAME_LABEL, service).endMetadata().withAddressType("IPv4");
        if (grpcPort != null) {
            b.addNewPort().withName("grpc").withPort(grpcPort).withProtocol("TCP").endPort();
        }
        for (String a : ready) {
            b.addNewEndpoint().withAddresses(a).withNewConditions().withReady(true).endConditions().endEndpoint();
        }
        for (String a : unready) {
            b.addNewEndpoint().withAddresses(a).withNewConditions().withReady(false).endConditions().endEndpoint();
        }
        return b.build();
    }

    @Test
    void aChannelReachesTheServiceAtItsEndpointAndPort() throws Exception {
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(new IpamGrpc.IpamImplBase() {
            @Override
            public void getNodeCidrs(GetNodeCidrsRequest request, StreamObserver<NodeAllocation> out) {
                out.onNext(NodeAllocation.newBuilder().setNodeName(request.getNodeName()).build());
                out.onCompleted();
            }
        }).build().start();
        NameResolverRegistry registry = new NameResolverRegistry();
        registry.register(new EndpointSliceResolverProvider(() -> client));
        // The target's port (1) answers nothing: the slice's port named grpc is the one to use.
        ManagedChannel channel = NettyChannelBuilder.forTarget("endpointslices://ipam-service.weft-system:1")
                .nameResolverFactory(registry.asFactory()).usePlaintext().build();
        try {
            client.resource(slice("ipam-service-x1", "ipam-service", server.getPort(), List.of("127.0.0.1"), List.of())).create();
            NodeAllocation answer = IpamGrpc.newBlockingStub(channel).withWaitForReady().withDeadlineAfter(30, TimeUnit.SECONDS)
                    .getNodeCidrs(GetNodeCidrsRequest.newBuilder().setNodeName("n1").build());
            assertEquals("n1", answer.getNodeName());
        } finally {
            channel.shutdownNow();
            server.shutdownNow();
        }
    }

    /** What a resolver told its channel. */
    record Update(List<InetSocketAddress> addresses, Status error) {
    }

    @Test
    void followsTheReadyEndpointsOfTheService() throws Exception {
        LinkedBlockingQueue<Update> updates = new LinkedBlockingQueue<>();
        SynchronizationContext sync = new SynchronizationContext((t, e) -> updates.add(new Update(List.of(), Status.INTERNAL.withCause(e))));
        NameResolver resolver = new EndpointSliceResolverProvider(() -> client).newNameResolver(
                URI.create("endpointslices://policy-service.weft-system:9092"),
                NameResolver.Args.newBuilder().setDefaultPort(9092).setSynchronizationContext(sync)
                        .setProxyDetector(a -> null).setServiceConfigParser(new NameResolver.ServiceConfigParser() {
                            @Override
                            public NameResolver.ConfigOrError parseServiceConfig(java.util.Map<String, ?> rawServiceConfig) {
                                return NameResolver.ConfigOrError.fromConfig(rawServiceConfig);
                            }
                        }).setChannelLogger(new io.grpc.ChannelLogger() {
                            @Override
                            public void log(ChannelLogLevel level, String message) {
                            }

                            @Override
                            public void log(ChannelLogLevel level, String messageFormat, Object... args) {
                            }
                        }).build());
        // Another service's slice is not ours.
        client.resource(slice("ipam-service-x1", "ipam-service", 9091, List.of("192.0.2.9"), List.of())).create();
        resolver.start(new NameResolver.Listener2() {
            @Override
            public void onResult(NameResolver.ResolutionResult result) {
                updates.add(new Update(result.getAddressesOrError().getValue().stream()
                        .map(g -> (InetSocketAddress) g.getAddresses().getFirst()).toList(), null));
            }

            @Override
            public void onError(Status error) {
                updates.add(new Update(List.of(), error));
            }
        });
        try {
            Update none = next(updates);
            assertEquals(Status.Code.UNAVAILABLE, none.error().getCode());
            assertTrue(none.error().getDescription().contains("no ready endpoint in the EndpointSlices of Service weft-system/policy-service"),
                    none.error().getDescription());

            client.resource(slice("policy-service-a", "policy-service", null, List.of("192.0.2.1", "192.0.2.2"), List.of("192.0.2.3"))).create();
            awaitAddresses(updates, List.of(new InetSocketAddress("192.0.2.1", 9092), new InetSocketAddress("192.0.2.2", 9092)));

            client.resource(slice("policy-service-a", "policy-service", null, List.of("192.0.2.2"), List.of("192.0.2.1"))).update();
            awaitAddresses(updates, List.of(new InetSocketAddress("192.0.2.2", 9092)));
        } finally {
            resolver.shutdown();
        }
    }

    @Test
    void aTargetThatNamesNoServiceAndNamespaceIsRejected() {
        for (String bad : new String[] {"endpointslices://policy-service:9092", "endpointslices://a.b.c:9092", "endpointslices://policy-service.weft-system"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> EndpointSliceResolver.ServiceTarget.parse(URI.create(bad)), bad);
            assertTrue(e.getMessage().contains("expected endpointslices://SERVICE.NAMESPACE:PORT"), e.getMessage());
        }
        assertEquals(new EndpointSliceResolver.ServiceTarget("ipam-service", "weft-system", 9091),
                EndpointSliceResolver.ServiceTarget.parse(URI.create("endpointslices://ipam-service.weft-system:9091")));
    }

    @Test
    void anUnknownSchemeIsNotOurs() {
        assertEquals(null, new EndpointSliceResolverProvider(() -> client).newNameResolver(URI.create("dns:///x:1"),
                NameResolver.Args.newBuilder().setDefaultPort(1).setSynchronizationContext(new SynchronizationContext((t, e) -> { }))
                        .setProxyDetector(a -> null).setServiceConfigParser(new NameResolver.ServiceConfigParser() {
                            @Override
                            public NameResolver.ConfigOrError parseServiceConfig(java.util.Map<String, ?> raw) {
                                return NameResolver.ConfigOrError.fromConfig(raw);
                            }
                        }).build()));
    }

    private static Update next(LinkedBlockingQueue<Update> updates) throws InterruptedException {
        Update u = updates.poll(30, TimeUnit.SECONDS);
        assertNotNull(u, "the resolver published nothing within 30 s");
        return u;
    }

    /** Reads updates until the expected addresses are published; any other set of addresses fails the test. */
    private static void awaitAddresses(LinkedBlockingQueue<Update> updates, List<InetSocketAddress> expected) throws InterruptedException {
        Update u;
        do {
            u = next(updates);
            if (u.error() == null && !u.addresses().equals(expected) && !u.addresses().isEmpty()) {
                // The informer may republish the previous view before the change arrives; never an unrelated one.
                assertTrue(u.addresses().containsAll(expected), "published " + u.addresses() + ", expected " + expected);
            }
        } while (u.error() != null || !u.addresses().equals(expected));
    }
}
