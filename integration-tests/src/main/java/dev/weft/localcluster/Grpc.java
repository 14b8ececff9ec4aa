package dev.weft.localcluster;

import dev.weft.security.tls.ClientTls;
import dev.weft.security.tls.ControlPlaneCa;
import dev.weft.security.tls.ReloadableTrustManager;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;

import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * gRPC channels of the local cluster's tools: to an agent's local API socket (as weftctl on a node), or to
 * ipam-service and policy-service over TLS, verified as an agent verifies them.
 */
final class Grpc implements AutoCloseable {
    /** Where ipam-service and policy-service publish their CA (the bundle's weft.tls.namespace / ca-config-map). */
    static final String CA_NAMESPACE = "weft-system";
    static final String CA_CONFIG_MAP = "weft-ca";
    static final String IPAM_SERVER_NAME = "ipam-service.weft-system.svc";
    static final String POLICY_SERVER_NAME = "policy-service.weft-system.svc";

    final ManagedChannel channel;

    private Grpc(ManagedChannel channel) {
        this.channel = channel;
    }

    /** Event loop of the tools' channels to agents' UNIX sockets (daemon threads: a CLI exits without closing it). */
    private static final class AgentSockets {
        static final io.netty.channel.EventLoopGroup GROUP = new io.netty.channel.epoll.EpollEventLoopGroup(1,
                Thread.ofPlatform().daemon().name("agent-socket-", 0).factory());
    }

    /**
     * A node's agent on its local API socket (agent.local-api-socket), as weftctl reaches it on a node: the agent's
     * network port answers only other agents' traceflow phases (docs/security.md).
     */
    static Grpc agent(Layout layout, ClusterState.NodeState node) {
        return new Grpc(NettyChannelBuilder.forAddress(new io.netty.channel.unix.DomainSocketAddress(
                        Topology.agentSocket(layout, node).toString()))
                .channelType(io.netty.channel.epoll.EpollDomainSocketChannel.class).eventLoopGroup(AgentSockets.GROUP)
                .usePlaintext().build());
    }

    /**
     * TLS to a control-plane service on loopback: its certificate must be issued by a CA of the bundle the services
     * published in ConfigMap weft-system/weft-ca, for {@code serverName} (the Service's DNS name, as agents check it).
     */
    static Grpc controlPlane(KubernetesClient api, String hostPort, String serverName) {
        return new Grpc(ClientTls.channel(hostPort, ReloadableTrustManager.of(controlPlaneCa(api),
                "ConfigMap " + CA_NAMESPACE + "/" + CA_CONFIG_MAP), serverName));
    }

    /** The CA certificates of ConfigMap weft-system/weft-ca; a clear error when the services have not published it. */
    static List<X509Certificate> controlPlaneCa(KubernetesClient api) {
        return ControlPlaneCa.readBundle(api, CA_NAMESPACE, CA_CONFIG_MAP);
    }

    /** Sends {@code authorization: Bearer TOKEN} (ipam-service and policy-service authenticate every caller). */
    static io.grpc.ClientInterceptor bearer(String token) {
        io.grpc.Metadata headers = new io.grpc.Metadata();
        headers.put(io.grpc.Metadata.Key.of("authorization", io.grpc.Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
        return io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(headers);
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
