package dev.weft.agent.cni;

import com.google.protobuf.ByteString;
import dev.weft.proto.cni.v1.CniCall;
import dev.weft.proto.cni.v1.CniReply;
import dev.weft.proto.cni.v1.CniRequest;
import dev.weft.proto.cni.v1.CniResponse;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** A real client on the agent's CNI UNIX socket, speaking the protocol the shim speaks (one call per connection). */
final class CniClient implements AutoCloseable {

    static final String CONFIG = "{\"cniVersion\":\"1.0.0\",\"name\":\"weft\",\"type\":\"weft\"}";
    private final Path socket;

    CniClient(Path socket) {
        this.socket = socket;
    }

    static CniRequest request(String containerId, String netns, String ifName, String ns, String pod, String config) {
        return CniRequest.newBuilder().setContainerId(containerId).setNetns(netns).setIfname(ifName)
                .setArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=" + ns + ";K8S_POD_NAME=" + pod + ";K8S_POD_INFRA_CONTAINER_ID=" + containerId)
                .setPath("/opt/cni/bin").setNetworkConfiguration(ByteString.copyFrom(config, StandardCharsets.UTF_8)).build();
    }

    CniResponse add(CniRequest r) {
        return call(CniCall.newBuilder().setAdd(r).build()).getResponse();
    }

    CniResponse check(CniRequest r) {
        return call(CniCall.newBuilder().setCheck(r).build()).getResponse();
    }

    CniResponse del(CniRequest r) {
        return call(CniCall.newBuilder().setDel(r).build()).getResponse();
    }

    CniReply call(CniCall call) {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            call.writeDelimitedTo(Channels.newOutputStream(ch));
            CniReply reply = CniReply.parseDelimitedFrom(Channels.newInputStream(ch));
            if (reply == null) {
                throw new IOException("the agent closed " + socket + " without a reply");
            }
            return reply;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
    }
}
