package dev.weft.localcluster;

import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;

import java.util.concurrent.TimeUnit;

/** Plain gRPC channels to the services on loopback (plaintext HTTP/2, as the services serve gRPC on their HTTP port). */
final class Grpc implements AutoCloseable {
    final ManagedChannel channel;

    Grpc(int port) {
        this.channel = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
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
