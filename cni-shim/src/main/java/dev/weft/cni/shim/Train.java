package dev.weft.cni.shim;

import dev.weft.proto.cni.v1.CniGrpc;
import dev.weft.proto.cni.v1.CniRequest;
import dev.weft.proto.cni.v1.CniResponse;
import dev.weft.proto.cni.v1.CniResult;
import dev.weft.proto.cni.v1.Interface;
import dev.weft.proto.cni.v1.IpConfig;
import dev.weft.proto.cni.v1.Route;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Build-time training run for the JDK AOT cache ({@code -XX:AOTCacheOutput}): drives the shim's real code paths
 * (ADD with result rendering, CHECK, DEL, VERSION, an error) against a local answering endpoint on a temporary UNIX
 * socket so that the classes an actual invocation loads end up in the cache. Not used at run time.
 */
public final class Train {

    private Train() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("weft-cni-train-");
        Path socket = dir.resolve("train.sock");
        EpollEventLoopGroup group = new EpollEventLoopGroup(1);
        Server server = NettyServerBuilder.forAddress(new DomainSocketAddress(socket.toString()))
                .channelType(EpollServerDomainSocketChannel.class).bossEventLoopGroup(group).workerEventLoopGroup(group)
                .addService(new CniGrpc.CniImplBase() {
                    @Override
                    public void cmdAdd(CniRequest request, StreamObserver<CniResponse> out) {
                        out.onNext(CniResponse.newBuilder().setResult(CniResult.newBuilder().setCniVersion("1.0.0")
                                .addInterfaces(Interface.newBuilder().setName("weft0").setMac("0a:58:0a:00:00:02"))
                                .addInterfaces(Interface.newBuilder().setName("eth0").setMac("0a:58:0a:00:00:02").setSandbox("/x"))
                                .addIps(IpConfig.newBuilder().setAddress("10.0.0.2/24").setGateway("10.0.0.1").setInterface(1))
                                .addRoutes(Route.newBuilder().setDst("0.0.0.0/0").setGw("10.0.0.1"))).build());
                        out.onCompleted();
                    }

                    @Override
                    public void cmdCheck(CniRequest request, StreamObserver<CniResponse> out) {
                        out.onNext(CniResponse.newBuilder().setResult(CniResult.getDefaultInstance()).build());
                        out.onCompleted();
                    }

                    @Override
                    public void cmdDel(CniRequest request, StreamObserver<CniResponse> out) {
                        out.onNext(CniResponse.newBuilder().setError(dev.weft.proto.cni.v1.CniError.newBuilder()
                                .setCode(dev.weft.proto.cni.v1.ErrorCode.TRY_AGAIN_LATER).setMsg("training")).build());
                        out.onCompleted();
                    }
                }).build().start();
        try {
            byte[] conf = ("{\"cniVersion\":\"1.0.0\",\"name\":\"weft\",\"type\":\"weft\",\"agentSocket\":\""
                    + socket + "\"}").getBytes(StandardCharsets.UTF_8);
            PrintStream sink = new PrintStream(new ByteArrayOutputStream(), false, StandardCharsets.UTF_8);
            for (String cmd : new String[] {"ADD", "CHECK", "DEL", "VERSION"}) {
                Shim.run(Map.of("CNI_COMMAND", cmd, "CNI_CONTAINERID", "train", "CNI_NETNS", "/x", "CNI_IFNAME", "eth0",
                        "CNI_ARGS", "K8S_POD_NAMESPACE=a;K8S_POD_NAME=b", "CNI_PATH", "/opt/cni/bin"), conf, sink);
            }
            Shim.run(Map.of("CNI_COMMAND", "ADD"), "{bad".getBytes(StandardCharsets.UTF_8), sink);
        } finally {
            server.shutdownNow();
            group.shutdownGracefully(0, 0, java.util.concurrent.TimeUnit.MILLISECONDS);
            Files.deleteIfExists(socket);
            Files.deleteIfExists(dir);
        }
        // A normal exit: the JVM writes the AOT cache on its way out (halt would skip that).
        System.exit(0);
    }
}
