package dev.weft.agent;

import dev.weft.proto.agent.v1.AgentQueryGrpc;
import dev.weft.proto.agent.v1.GetAgentInfoRequest;
import dev.weft.proto.agent.v1.TracePhase;
import dev.weft.proto.agent.v1.TraceflowRequest;
import dev.weft.security.auth.AuthInterceptor;
import dev.weft.security.auth.CallerIdentity;
import dev.weft.security.auth.TestTokenReviews;
import grpc.health.v1.HealthGrpc;
import grpc.health.v1.HealthOuterClass.HealthCheckRequest;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.junit.QuarkusTestProfile;
import io.quarkus.test.junit.TestProfile;
import io.quarkus.test.kubernetes.client.KubernetesServer;
import io.quarkus.test.kubernetes.client.KubernetesTestServer;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The agent's network port over a real gRPC channel, with peer authentication on as the bundle runs it: only another
 * agent's Traceflow phases (arm, collect) are answered, for a pod-bound token of the peer audience and the agents'
 * ServiceAccount; everything else is refused with a message and a counter, while health needs no token and the local
 * socket (weftctl) still answers without one.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@TestProfile(AgentPeerAuthTest.PeerAuthOn.class)
class AgentPeerAuthTest {

    static final String PEER_AUDIENCE = "weft-agent-peer";

    public static class PeerAuthOn implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("agent.peer-auth.enabled", "true");
        }
    }

    @KubernetesTestServer
    KubernetesServer server;

    @Inject
    KubernetesClient client;

    @Inject
    AgentConfig config;

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    /** One for the test server's lifetime: its first TokenReview responder is the one that answers. */
    private static final TestTokenReviews tokens = new TestTokenReviews();
    private static boolean serving;
    private ManagedChannel channel;

    @BeforeEach
    void connect() {
        if (!serving) {
            tokens.serveOn(server.getKubernetesMockServer());
            serving = true;
        }
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    }

    @AfterEach
    void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    private AgentQueryGrpc.AgentQueryBlockingStub stub(String token) {
        Metadata h = new Metadata();
        h.put(AuthInterceptor.AUTHORIZATION, "Bearer " + token);
        return AgentQueryGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(h))
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    private static double refused(String reason) {
        String metrics = given().get("/q/metrics").then().statusCode(200).extract().asString();
        Matcher m = Pattern.compile("^weft_agent_auth_refused_total\\{reason=\"" + reason + "\"} ([0-9.]+)$",
                Pattern.MULTILINE).matcher(metrics);
        assertTrue(m.find(), "no weft_agent_auth_refused_total{reason=\"" + reason + "\"}");
        return Double.parseDouble(m.group(1));
    }

    /** A token of {@code serviceAccount}'s pod on {@code node}, as the kubelet projects it. */
    private String token(String namespace, String serviceAccount, String node, String audience) {
        Pod pod = client.resource(new PodBuilder().withNewMetadata().withName(serviceAccount + "-" + node)
                .withNamespace(namespace).endMetadata().withNewSpec().withServiceAccountName(serviceAccount)
                .withNodeName(node).endSpec().build()).create();
        return tokens.issue(new CallerIdentity(namespace, serviceAccount, pod.getMetadata().getName(),
                pod.getMetadata().getUid(), node), audience, Instant.now().plusSeconds(600));
    }

    private static TraceflowRequest phase(TracePhase phase) {
        return TraceflowRequest.newBuilder().setPeerPhase(phase).setTag(7).setTimeoutSeconds(1).build();
    }

    @Test
    void anotherNodesAgentMayArmAndCollectOnly() {
        String peer = token("weft-system", "weft-agent", "node-" + UUID.randomUUID().toString().substring(0, 6),
                PEER_AUDIENCE);
        // Authenticated and authorized: the call reaches the Traceflow service, which knows no trace 7.
        Status collect = assertThrows(StatusRuntimeException.class,
                () -> stub(peer).traceflow(phase(TracePhase.TRACE_PHASE_COLLECT))).getStatus();
        assertEquals(Status.Code.NOT_FOUND, collect.getCode(), collect.toString());
        assertEquals("no trace 7 armed on test-node", collect.getDescription());

        double method = refused("method");
        Status start = assertThrows(StatusRuntimeException.class,
                () -> stub(peer).traceflow(TraceflowRequest.newBuilder().setTimeoutSeconds(1).build())).getStatus();
        assertEquals(Status.Code.PERMISSION_DENIED, start.getCode());
        assertTrue(start.getDescription().startsWith("another agent may only arm or collect a trace here"),
                start.getDescription());

        Status query = assertThrows(StatusRuntimeException.class,
                () -> stub(peer).getAgentInfo(GetAgentInfoRequest.getDefaultInstance())).getStatus();
        assertEquals(Status.Code.PERMISSION_DENIED, query.getCode());
        assertEquals("weft.agent.v1.AgentQuery/GetAgentInfo is not served on the agent's network port; on the node,"
                + " use the local socket " + config.localApiSocket() + " (weftctl --socket)", query.getDescription());
        assertEquals(method + 2, refused("method"));
    }

    @Test
    void callersWithoutAPeerTokenOfAnAgentAreRefused() {
        double missing = refused("missing");
        Status anonymous = assertThrows(StatusRuntimeException.class, () -> AgentQueryGrpc.newBlockingStub(channel)
                .withDeadlineAfter(20, TimeUnit.SECONDS).traceflow(phase(TracePhase.TRACE_PHASE_ARM))).getStatus();
        assertEquals(Status.Code.UNAUTHENTICATED, anonymous.getCode());
        assertEquals(missing + 1, refused("missing"));

        // The agent's control-plane token must not open another agent's port (nor the reverse).
        double audience = refused("audience");
        String controlPlane = token("weft-system", "weft-agent", "node-cp", TestTokenReviews.AUDIENCE);
        Status wrongAudience = assertThrows(StatusRuntimeException.class,
                () -> stub(controlPlane).traceflow(phase(TracePhase.TRACE_PHASE_ARM))).getStatus();
        assertEquals(Status.Code.UNAUTHENTICATED, wrongAudience.getCode());
        assertEquals(audience + 1, refused("audience"));

        // A workload's token of the right audience: authenticated, but not an agent.
        double serviceAccount = refused("service_account");
        String workload = token("default", "default", "node-w", PEER_AUDIENCE);
        Status notAnAgent = assertThrows(StatusRuntimeException.class,
                () -> stub(workload).traceflow(phase(TracePhase.TRACE_PHASE_ARM))).getStatus();
        assertEquals(Status.Code.PERMISSION_DENIED, notAnAgent.getCode());
        assertEquals(serviceAccount + 1, refused("service_account"));

        Status forged = assertThrows(StatusRuntimeException.class,
                () -> stub(TestTokenReviews.forged()).traceflow(phase(TracePhase.TRACE_PHASE_ARM))).getStatus();
        assertEquals(Status.Code.UNAUTHENTICATED, forged.getCode());

        HealthGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS)
                .check(HealthCheckRequest.getDefaultInstance());
    }

    @Test
    void theLocalSocketStillAnswersWeftctlWithoutAToken() throws Exception {
        var group = new io.netty.channel.epoll.EpollEventLoopGroup(1);
        ManagedChannel local = io.grpc.netty.NettyChannelBuilder
                .forAddress(new io.netty.channel.unix.DomainSocketAddress(config.localApiSocket().toString()))
                .channelType(io.netty.channel.epoll.EpollDomainSocketChannel.class).eventLoopGroup(group)
                .usePlaintext().build();
        try {
            assertEquals("test-node", AgentQueryGrpc.newBlockingStub(local).withDeadlineAfter(10, TimeUnit.SECONDS)
                    .getAgentInfo(GetAgentInfoRequest.getDefaultInstance()).getNodeName());
        } finally {
            local.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
        }
    }
}
