package dev.weft.cni.shim;

import dev.weft.proto.cni.v1.CniCall;
import dev.weft.proto.cni.v1.CniReply;
import dev.weft.proto.cni.v1.CniResponse;
import dev.weft.proto.cni.v1.CniResult;
import dev.weft.proto.cni.v1.GcResponse;
import dev.weft.proto.cni.v1.GcResult;
import dev.weft.proto.cni.v1.Interface;
import dev.weft.proto.cni.v1.IpConfig;
import dev.weft.proto.cni.v1.Route;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Build-time training run for the JDK AOT cache ({@code -XX:AOTCacheOutput}): drives the shim's real code paths
 * (ADD with result rendering, CHECK, DEL, GC, VERSION, an error) against a local answering endpoint on a temporary UNIX
 * socket so that the classes an actual invocation loads end up in the cache. Not used at run time.
 */
public final class Train {

    private Train() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("weft-cni-train-");
        Path socket = dir.resolve("train.sock");
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        Thread answering = Thread.ofPlatform().daemon().start(() -> {
            while (true) {
                try (SocketChannel c = server.accept()) {
                    CniCall call = CniCall.parseDelimitedFrom(Channels.newInputStream(c));
                    answer(call).writeDelimitedTo(Channels.newOutputStream(c));
                } catch (IOException e) {
                    return; // the server socket closed: training is over
                }
            }
        });
        try {
            byte[] conf = ("{\"cniVersion\":\"1.0.0\",\"name\":\"weft\",\"type\":\"weft\",\"agentSocket\":\""
                    + socket + "\"}").getBytes(StandardCharsets.UTF_8);
            PrintStream sink = new PrintStream(new ByteArrayOutputStream(), false, StandardCharsets.UTF_8);
            for (String cmd : new String[] {"ADD", "CHECK", "DEL", "GC", "VERSION"}) {
                Shim.run(Map.of("CNI_COMMAND", cmd, "CNI_CONTAINERID", "train", "CNI_NETNS", "/x", "CNI_IFNAME", "eth0",
                        "CNI_ARGS", "K8S_POD_NAMESPACE=a;K8S_POD_NAME=b", "CNI_PATH", "/opt/cni/bin"), conf, sink);
            }
            Shim.run(Map.of("CNI_COMMAND", "ADD"), "{bad".getBytes(StandardCharsets.UTF_8), sink);
        } finally {
            server.close();
            answering.join(1000);
            Files.deleteIfExists(socket);
            Files.deleteIfExists(dir);
        }
        // A normal exit: the JVM writes the AOT cache on its way out (halt would skip that).
        System.exit(0);
    }

    private static CniReply answer(CniCall call) {
        return switch (call.getCallCase()) {
            case ADD -> CniReply.newBuilder().setResponse(CniResponse.newBuilder().setResult(CniResult.newBuilder()
                    .setCniVersion("1.0.0")
                    .addInterfaces(Interface.newBuilder().setName("weft0").setMac("0a:58:0a:00:00:02"))
                    .addInterfaces(Interface.newBuilder().setName("eth0").setMac("0a:58:0a:00:00:02").setSandbox("/x"))
                    .addIps(IpConfig.newBuilder().setAddress("10.0.0.2/24").setGateway("10.0.0.1").setInterface(1))
                    .addRoutes(Route.newBuilder().setDst("0.0.0.0/0").setGw("10.0.0.1")))).build();
            case CHECK -> CniReply.newBuilder().setResponse(CniResponse.newBuilder().setResult(CniResult.getDefaultInstance())).build();
            case GC -> CniReply.newBuilder().setGc(GcResponse.newBuilder().setResult(GcResult.getDefaultInstance())).build();
            default -> CniReply.newBuilder().setResponse(CniResponse.newBuilder().setError(dev.weft.proto.cni.v1.CniError
                    .newBuilder().setCode(dev.weft.proto.cni.v1.ErrorCode.TRY_AGAIN_LATER).setMsg("training"))).build();
        };
    }
}
