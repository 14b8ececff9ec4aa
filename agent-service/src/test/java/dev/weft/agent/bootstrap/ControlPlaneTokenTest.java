package dev.weft.agent.bootstrap;

import dev.weft.proto.ipam.v1.GetNodeCidrsRequest;
import dev.weft.proto.ipam.v1.IpamGrpc;
import dev.weft.proto.ipam.v1.NodeAllocation;
import dev.weft.security.auth.AuthInterceptor;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcClient;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The agent's own ipam client (as the bundle configures it, agent.control-plane-token-file) sends the projected token
 * as a bearer token on every call, picks up the kubelet's rotation, and fails a call with a clear message when the
 * token cannot be read. The server is a gRPC server on loopback that records the authorization header it receives.
 */
@QuarkusTest
@TestProfile(ControlPlaneTokenTest.WithToken.class)
@WithKubernetesTestServer(crud = true)
class ControlPlaneTokenTest {

    static final Path DIR;
    static final Path TOKEN;
    static final List<String> SEEN = new CopyOnWriteArrayList<>();
    static final Server IPAM;

    static {
        try {
            DIR = Files.createTempDirectory("weft-token-test");
            TOKEN = DIR.resolve("token");
            Files.writeString(TOKEN, "first-token\n");
            ServerInterceptor record = new ServerInterceptor() {
                @Override
                public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
                                                                   ServerCallHandler<Q, A> next) {
                    SEEN.add(String.valueOf(headers.get(AuthInterceptor.AUTHORIZATION)));
                    return next.startCall(call, headers);
                }
            };
            IPAM = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0))
                    .addService(ServerInterceptors.intercept(new IpamGrpc.IpamImplBase() {
                        @Override
                        public void getNodeCidrs(GetNodeCidrsRequest request, StreamObserver<NodeAllocation> out) {
                            out.onNext(NodeAllocation.newBuilder().setNodeName(request.getNodeName()).build());
                            out.onCompleted();
                        }
                    }, record)).build().start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static class WithToken implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("agent.control-plane-token-file", TOKEN.toString(),
                    "quarkus.grpc.clients.ipam.host", "127.0.0.1",
                    "quarkus.grpc.clients.ipam.port", Integer.toString(IPAM.getPort()),
                    "quarkus.grpc.clients.ipam.test-port", Integer.toString(IPAM.getPort()));
        }
    }

    @GrpcClient("ipam")
    IpamGrpc.IpamBlockingStub ipam;

    @AfterAll
    static void stop() throws IOException {
        IPAM.shutdownNow();
        Files.deleteIfExists(TOKEN);
        Files.deleteIfExists(DIR);
    }

    private void call() {
        ipam.withDeadlineAfter(20, TimeUnit.SECONDS).getNodeCidrs(GetNodeCidrsRequest.newBuilder().setNodeName("n").build());
    }

    private String lastSeen() {
        return SEEN.getLast();
    }

    @Test
    void theTokenIsSentOnEveryCallReReadAfterRotationAndAMissingOneFailsTheCall() throws IOException {
        call();
        assertEquals("Bearer first-token", lastSeen());
        call();
        assertEquals("Bearer first-token", lastSeen());

        // The kubelet's atomic writer: a new file moved into place.
        Path next = DIR.resolve("token.new");
        Files.writeString(next, "second-token");
        Files.setLastModifiedTime(next, FileTime.from(Instant.now().plusSeconds(5)));
        Files.move(next, TOKEN, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        call();
        assertEquals("Bearer second-token", lastSeen());

        int calls = SEEN.size();
        Files.delete(TOKEN);
        Status missing = assertThrows(StatusRuntimeException.class, this::call).getStatus();
        assertEquals(Status.Code.UNAUTHENTICATED, missing.getCode());
        assertTrue(missing.getDescription().startsWith("cannot read the ServiceAccount token for "
                + IpamGrpc.getGetNodeCidrsMethod().getFullMethodName() + " from " + TOKEN), missing.getDescription());
        assertEquals(calls, SEEN.size(), "nothing was sent without the token");
    }
}
