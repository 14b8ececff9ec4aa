package dev.weft.security.tls;

import io.grpc.ManagedChannel;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.InternalNettyChannelBuilder;
import io.grpc.netty.InternalProtocolNegotiator;
import io.grpc.netty.InternalProtocolNegotiators;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.handler.ssl.SslContext;

import javax.net.ssl.SSLException;

/**
 * TLS for a gRPC channel to ipam-service or policy-service: the server must present a certificate issued by a CA of
 * the bundle for {@code serverName}, the Service's DNS name. Clients reach the services by address (EndpointSlices,
 * node IPs), so the name to verify is fixed per service rather than taken from the target: the channel's authority
 * is overridden to it, which gRPC uses both for SNI and for hostname verification.
 */
public final class ClientTls {

    private ClientTls() {
    }

    public static SslContext sslContext(ReloadableTrustManager trust) {
        try {
            return GrpcSslContexts.forClient().trustManager(trust).build();
        } catch (SSLException e) {
            throw new TlsMaterialException("cannot build the client TLS context", e);
        }
    }

    /**
     * TLS on a builder that someone else configures further. Quarkus' channel factory calls {@code usePlaintext()} or
     * {@code negotiationType()} after the ChannelBuilderCustomizers have run; those act only on the builder's default
     * negotiator, so installing our own TLS negotiator keeps them from turning TLS off again.
     */
    public static void secure(NettyChannelBuilder builder, ReloadableTrustManager trust, String serverName) {
        SslContext context = sslContext(trust);
        InternalNettyChannelBuilder.setProtocolNegotiatorFactory(builder, new InternalProtocolNegotiator.ClientFactory() {
            @Override
            public InternalProtocolNegotiator.ProtocolNegotiator newNegotiator() {
                return InternalProtocolNegotiators.tls(context, null, trust);
            }

            @Override
            public int getDefaultPort() {
                return 443;
            }
        });
        builder.overrideAuthority(serverName);
    }

    /** A channel of our own (tools, tests, the policy-service replicas' forwarding) to {@code target}. */
    public static ManagedChannel channel(String target, ReloadableTrustManager trust, String serverName) {
        return NettyChannelBuilder.forTarget(target).sslContext(sslContext(trust)).overrideAuthority(serverName)
                .build();
    }
}
