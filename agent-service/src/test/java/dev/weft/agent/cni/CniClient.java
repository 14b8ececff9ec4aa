package dev.weft.agent.cni;

import com.google.protobuf.ByteString;
import dev.weft.proto.cni.v1.CniGrpc;
import dev.weft.proto.cni.v1.CniRequest;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** A real gRPC client on the agent's CNI UNIX socket, as the shim uses it. */
final class CniClient implements AutoCloseable {

    static final String CONFIG = "{\"cniVersion\":\"1.0.0\",\"name\":\"weft\",\"type\":\"weft\"}";
    final ManagedChannel channel;
    final CniGrpc.CniBlockingStub stub;
    private final EpollEventLoopGroup group = new EpollEventLoopGroup(1);

    CniClient(Path socket) {
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollDomainSocketChannel.class).eventLoopGroup(group).usePlaintext().build();
        stub = CniGrpc.newBlockingStub(channel);
    }

    static CniRequest request(String containerId, String netns, String ifName, String ns, String pod, String config) {
        return CniRequest.newBuilder().setContainerId(containerId).setNetns(netns).setIfname(ifName)
                .setArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=" + ns + ";K8S_POD_NAME=" + pod + ";K8S_POD_INFRA_CONTAINER_ID=" + containerId)
                .setPath("/opt/cni/bin").setNetworkConfiguration(ByteString.copyFrom(config, StandardCharsets.UTF_8)).build();
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }
}
