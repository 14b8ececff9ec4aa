package dev.weft.ipam;

import dev.weft.proto.ipam.v1.IpamGrpc;
import dev.weft.proto.ipam.v1.ListAllocationsRequest;
import dev.weft.proto.ipam.v1.LookupIpRequest;
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
 * Caller identity on the IPAM API over a real gRPC channel: queries are answered for any caller whose pod-bound token
 * the (test) API server authenticates, refused without a token or with a forged one, and health needs no token.
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

    private IpamGrpc.IpamBlockingStub stub(String token) {
        Metadata h = new Metadata();
        h.put(AuthInterceptor.AUTHORIZATION, "Bearer " + token);
        return IpamGrpc.newBlockingStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(h))
                .withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    private static double refused(String reason) {
        String metrics = given().get("/q/metrics").then().statusCode(200).extract().asString();
        Matcher m = Pattern.compile("^weft_ipam_auth_refused_total\\{reason=\"" + reason + "\"} ([0-9.]+)$",
                Pattern.MULTILINE).matcher(metrics);
        assertTrue(m.find(), "no weft_ipam_auth_refused_total{reason=\"" + reason + "\"}");
        return Double.parseDouble(m.group(1));
    }

    @Test
    void queriesAreAnsweredForAnyAuthenticatedCallerOnly() {
        String node = "node-" + UUID.randomUUID().toString().substring(0, 6);
        Pod pod = client.resource(new PodBuilder().withNewMetadata().withName("busybox-" + node).withNamespace("default")
                .endMetadata().withNewSpec().withNodeName(node).endSpec().build()).create();
        String token = tokens.issue(new CallerIdentity("default", "default", pod.getMetadata().getName(),
                pod.getMetadata().getUid(), node));
        stub(token).listAllocations(ListAllocationsRequest.getDefaultInstance());

        double missing = refused("missing");
        Status anonymous = assertThrows(StatusRuntimeException.class, () -> IpamGrpc.newBlockingStub(channel)
                .withDeadlineAfter(20, TimeUnit.SECONDS).lookupIp(LookupIpRequest.newBuilder().setIp("10.10.1.1").build()))
                .getStatus();
        assertEquals(Status.Code.UNAUTHENTICATED, anonymous.getCode());
        assertEquals(missing + 1, refused("missing"));

        double rejected = refused("rejected");
        Status forged = assertThrows(StatusRuntimeException.class, () -> stub(TestTokenReviews.forged())
                .listAllocations(ListAllocationsRequest.getDefaultInstance())).getStatus();
        assertEquals(Status.Code.UNAUTHENTICATED, forged.getCode());
        assertEquals("the Kubernetes API did not authenticate the token: invalid bearer token", forged.getDescription());
        assertEquals(rejected + 1, refused("rejected"));

        client.pods().inNamespace("default").withName(pod.getMetadata().getName()).delete();
        // The accepted token stays believed for the cache TTL; a new token of the deleted pod is refused.
        String stale = tokens.issue(new CallerIdentity("default", "default", pod.getMetadata().getName(),
                pod.getMetadata().getUid(), node));
        Status gone = assertThrows(StatusRuntimeException.class, () -> stub(stale)
                .listAllocations(ListAllocationsRequest.getDefaultInstance())).getStatus();
        assertEquals(Status.Code.UNAUTHENTICATED, gone.getCode());
        assertTrue(gone.getDescription().endsWith("which no longer exists"), gone.getDescription());

        HealthGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance());
    }
}
