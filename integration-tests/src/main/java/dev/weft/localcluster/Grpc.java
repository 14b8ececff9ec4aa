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
