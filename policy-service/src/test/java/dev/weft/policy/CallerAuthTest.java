package dev.weft.policy;

import dev.weft.proto.controlplane.v1.ControlPlaneGrpc;
import dev.weft.proto.controlplane.v1.GetPolicyStatusRequest;
import dev.weft.proto.controlplane.v1.NodeRealizationReport;
import dev.weft.proto.controlplane.v1.PolicyEvent;
import dev.weft.proto.controlplane.v1.WatchPoliciesRequest;
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
import java.util.Iterator;
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
 * Caller identity on the control-plane API over a real gRPC channel, with the test API server answering TokenReviews
 * for the tokens this test issues to its pods: nothing unauthenticated but health is answered; agent A watches and
 * reports for node A only; other ServiceAccounts, forged, expired and wrong-audience tokens are refused; a peer
 * replica reports for any node; every refusal is counted by reason.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@TestProfile(CallerAuthTest.AuthOn.class)
class CallerAuthTest {

    public static class AuthOn implements QuarkusTestProfile {
        @Override
        public Map<String, String> getConfigOverrides() {
            return Map.of("weft.auth.enabled", "true");
        }
    }

    @KubernetesTestServer
    KubernetesServer server;

    @Inject
    KubernetesClient client;

    @ConfigProperty(name = "quarkus.http.test-port")
    int port;

    /** One for the test server's lifetime: its first TokenReview responder is the one that answers. */
    private static final TestTokenReviews tokens = new TestTokenReviews();
    private static boolean serving;
    private final String suffix = UUID.randomUUID().toString().substring(0, 6);
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

    /** A running pod of the ServiceAccount on the node, and a token bound to it. */
    private String tokenOf(String serviceAccount, String node) {
        Pod pod = client.resource(new PodBuilder().withNewMetadata().withName(serviceAccount + "-" + node)
                .withNamespace("weft-system").endMetadata().withNewSpec().withServiceAccountName(serviceAccount)
                .withNodeName(node).endSpec().build()).create();
        return tokens.issue(new CallerIdentity("weft-system", serviceAccount, pod.getMetadata().getName(),
                pod.getMetadata().getUid(), node));
    }

    private ControlPlaneGrpc.ControlPlaneBlockingStub stub(String token) {
        Metadata h = new Metadata();
        h.put(AuthInterceptor.AUTHORIZATION, "Bearer " + token);
        return ControlPlaneGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(h))
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    private static NodeRealizationReport report(String node) {
        return NodeRealizationReport.newBuilder().setNodeName(node).build();
    }

    private static Status refusal(Runnable call) {
        return assertThrows(StatusRuntimeException.class, call::run).getStatus();
    }

    private static Status watchRefusal(ControlPlaneGrpc.ControlPlaneBlockingStub stub, String node) {
        return refusal(() -> stub.watchPolicies(WatchPoliciesRequest.newBuilder().setNodeName(node).build()).next());
    }

    private static double refused(String reason) {
        String metrics = given().get("/q/metrics").then().statusCode(200).extract().asString();
        Matcher m = Pattern.compile("^weft_policy_auth_refused_total\\{reason=\"" + reason + "\"} ([0-9.]+)$",
                Pattern.MULTILINE).matcher(metrics);
        assertTrue(m.find(), "no weft_policy_auth_refused_total{reason=\"" + reason + "\"}");
        return Double.parseDouble(m.group(1));
    }

    @Test
    void anAgentWatchesAndReportsForItsOwnNodeOnly() {
        String nodeA = "node-a-" + suffix;
        String nodeB = "node-b-" + suffix;
        var agentA = stub(tokenOf("weft-agent", nodeA));
        double nodeRefusals = refused("node");

        Iterator<PolicyEvent> own = agentA.watchPolicies(WatchPoliciesRequest.newBuilder().setNodeName(nodeA).build());
        assertEquals(PolicyEvent.Type.SYNC_COMPLETE, own.next().getType(), "its own span: an (empty) snapshot");
        agentA.reportStatus(report(nodeA));

        Status watch = watchRefusal(agentA, nodeB);
        assertEquals(Status.Code.PERMISSION_DENIED, watch.getCode());
        assertEquals(ControlPlaneGrpc.getWatchPoliciesMethod().getFullMethodName() + " for node '"
                + nodeB + "' refused: ServiceAccount weft-system:weft-agent (pod weft-system/weft-agent-" + nodeA
                + " on node " + nodeA + ") may ask only for its own node '" + nodeA + "'", watch.getDescription());
        Status report = refusal(() -> agentA.reportStatus(report(nodeB)));
        assertEquals(Status.Code.PERMISSION_DENIED, report.getCode());
        assertTrue(report.getDescription().contains("ReportStatus for node '" + nodeB + "' refused"), report.getDescription());
        assertEquals(nodeRefusals + 2, refused("node"));
    }

    @Test
    void nothingUnauthenticatedIsAnsweredButHealth() {
        double missing = refused("missing");
        var anonymous = ControlPlaneGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS);
        Status watch = watchRefusal(anonymous, "node-a-" + suffix);
        assertEquals(Status.Code.UNAUTHENTICATED, watch.getCode());
        assertEquals(ControlPlaneGrpc.getWatchPoliciesMethod().getFullMethodName()
                + " needs an 'authorization: Bearer <ServiceAccount token>' header", watch.getDescription());
        assertEquals(Status.Code.UNAUTHENTICATED, refusal(() -> anonymous.reportStatus(report("n"))).getCode());
        assertEquals(Status.Code.UNAUTHENTICATED,
                refusal(() -> anonymous.getPolicyStatus(GetPolicyStatusRequest.getDefaultInstance())).getCode());
        assertEquals(missing + 3, refused("missing"));
        // Probes need no token.
        HealthGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance());
    }

    @Test
    void forgedExpiredWrongAudienceAndOtherServiceAccountsAreRefused() {
        String node = "node-c-" + suffix;
        double rejected = refused("rejected");
        Status forged = watchRefusal(stub(TestTokenReviews.forged()), node);
        assertEquals(Status.Code.UNAUTHENTICATED, forged.getCode());
        assertEquals("the Kubernetes API did not authenticate the token: invalid bearer token", forged.getDescription());
        assertEquals(rejected + 1, refused("rejected"));

        tokenOf("weft-agent", node); // the pod exists; its expired and wrong-audience tokens still do not count
        CallerIdentity agent = new CallerIdentity("weft-system", "weft-agent", "weft-agent-" + node,
                client.pods().inNamespace("weft-system").withName("weft-agent-" + node).get().getMetadata().getUid(), node);
        Status expired = watchRefusal(stub(tokens.issue(agent, TestTokenReviews.AUDIENCE, Instant.now().minusSeconds(5))), node);
        assertEquals(Status.Code.UNAUTHENTICATED, expired.getCode());
        assertTrue(expired.getDescription().startsWith("the bearer token expired at"), expired.getDescription());
        Status audience = watchRefusal(stub(tokens.issue(agent, "https://kubernetes.default.svc",
                Instant.now().plusSeconds(600))), node);
        assertEquals(Status.Code.UNAUTHENTICATED, audience.getCode());
        assertTrue(audience.getDescription().contains("this control plane accepts only 'weft-control-plane'"));

        double otherSa = refused("service_account");
        var busybox = stub(tokenOf("default", node));
        Status other = watchRefusal(busybox, node);
        assertEquals(Status.Code.PERMISSION_DENIED, other.getCode());
        assertTrue(other.getDescription().startsWith(ControlPlaneGrpc.getWatchPoliciesMethod().getFullMethodName()
                + " does not answer ServiceAccount weft-system:default"), other.getDescription());
        assertEquals(Status.Code.PERMISSION_DENIED, refusal(() -> busybox.reportStatus(report(node))).getCode());
        assertEquals(otherSa + 2, refused("service_account"));
        // Status is a read-only query: any authenticated caller.
        busybox.getPolicyStatus(GetPolicyStatusRequest.getDefaultInstance());
    }

    @Test
    void aPeerReplicaReportsForAnyNodeButCannotWatchOne() {
        var peer = stub(tokenOf("policy-service", "node-p-" + suffix));
        peer.reportStatus(report("node-x-" + suffix));
        assertEquals(Status.Code.PERMISSION_DENIED, watchRefusal(peer, "node-x-" + suffix).getCode());
    }
}
