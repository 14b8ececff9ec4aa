package dev.weft.security.auth;

import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The verifier against a Kubernetes API (fabric8's mock server) whose TokenReview answers by the token's tag: "agent-*"
 * tokens are bound tokens of weft-agent pods, "legacy" is a ServiceAccount token without pod claims, anything else
 * is not authenticated. Counts the reviews each case costs.
 */
class TokenVerifierTest {

    static final String AUDIENCE = "weft-control-plane";
    private KubernetesMockServer server;
    private KubernetesClient client;
    private final AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2026-01-01T00:00:00Z"));
    private final InstantSource clock = () -> now.get();
    private TokenVerifier verifier;

    @BeforeEach
    void start() {
        server = new KubernetesMockServer(false);
        server.init();
        client = server.createClient();
        server.expect().post().withPath("/apis/authentication.k8s.io/v1/tokenreviews")
                .andReply(201, req -> review(Serialization.unmarshal(req.getBody().readUtf8(), TokenReview.class)))
                .always();
        pod("weft-agent-a", "uid-a", "node-a");
        pod("weft-agent-b", "uid-b", "node-b");
        verifier = verifier(4096);
    }

    @AfterEach
    void stop() {
        verifier.close();
        client.close();
        server.destroy();
    }

    private TokenVerifier verifier(int cacheSize) {
        return new TokenVerifier(client, new TokenVerifier.Settings(AUDIENCE, Duration.ofSeconds(60),
                Duration.ofSeconds(10), cacheSize, 16), clock);
    }

    private void pod(String name, String uid, String node) {
        server.expect().get().withPath("/api/v1/namespaces/weft-system/pods/" + name).andReturn(200,
                new PodBuilder().withNewMetadata().withName(name).withNamespace("weft-system").withUid(uid).endMetadata()
                        .withNewSpec().withNodeName(node).endSpec().build()).always();
    }

    /** The test API server's judgement: the tag in the token says who it was issued to. */
    private static TokenReview review(TokenReview in) {
        String token = in.getSpec().getToken();
        String tag = new String(java.util.Base64.getUrlDecoder().decode(token.split("\\.")[1])).replaceAll(".*\"jti\":\"([^\"]*)\".*", "$1");
        var status = new TokenReviewBuilder(in).editOrNewStatus();
        if (tag.startsWith("agent-")) {
            // agent-<pod suffix>-<uid suffix>-<node suffix>
            String[] p = tag.split("-");
            status.withAuthenticated(true).withAudiences(in.getSpec().getAudiences()).withNewUser()
                    .withUsername("system:serviceaccount:weft-system:weft-agent")
                    .withExtra(Map.of(TokenVerifier.EXTRA_POD_NAME, List.of("weft-agent-" + p[1]),
                            TokenVerifier.EXTRA_POD_UID, List.of("uid-" + p[2]),
                            TokenVerifier.EXTRA_NODE_NAME, List.of("node-" + p[3])))
                    .endUser();
        } else if (tag.equals("legacy")) {
            status.withAuthenticated(true).withNewUser().withUsername("system:serviceaccount:weft-system:weft-agent")
                    .endUser();
        } else {
            status.withAuthenticated(false).withError("invalid bearer token");
        }
        return status.endStatus().build();
    }

    private Verdict verify(String token) {
        return verifier.verify(token).join();
    }

    private Refusal refused(String token) {
        return assertInstanceOf(Verdict.Refused.class, verify(token)).refusal();
    }

    private String token(String tag) {
        return TestTokenReviews.jwt(AUDIENCE, now.get().plusSeconds(3600), tag);
    }

    @Test
    void aBoundTokenOfAnAgentPodNamesItsServiceAccountPodAndNodeAndIsReviewedOnce() {
        String t = token("agent-a-a-a");
        var caller = assertInstanceOf(Verdict.Authenticated.class, verify(t)).caller();
        assertEquals(new CallerIdentity("weft-system", "weft-agent", "weft-agent-a", "uid-a", "node-a"), caller);
        assertEquals("weft-system:weft-agent", caller.serviceAccountRef());
        for (int i = 0; i < 50; i++) {
            assertInstanceOf(Verdict.Authenticated.class, verify(t));
        }
        assertEquals(1, verifier.reviewsMade(), "cached");
        now.set(now.get().plusSeconds(61));
        assertInstanceOf(Verdict.Authenticated.class, verify(t));
        assertEquals(2, verifier.reviewsMade(), "reviewed again after the TTL");
    }

    @Test
    void aForgedTokenIsRefusedWithTheApiServersReasonAndAFloodOfItCostsOneReview() {
        String forged = token("forged");
        Refusal r = refused(forged);
        assertEquals(Refusal.Reason.REJECTED, r.reason());
        assertEquals(io.grpc.Status.Code.UNAUTHENTICATED, r.status().getCode());
        assertEquals("the Kubernetes API did not authenticate the token: invalid bearer token", r.message());
        for (int i = 0; i < 200; i++) {
            assertEquals(Refusal.Reason.REJECTED, refused(forged).reason());
        }
        assertEquals(1, verifier.reviewsMade());
        now.set(now.get().plusSeconds(11));
        refused(forged);
        assertEquals(2, verifier.reviewsMade(), "negative results are cached for the negative TTL only");
    }

    @Test
    void expiredWrongAudienceAndMalformedTokensAreRefusedWithoutAReview() {
        Refusal expired = refused(TestTokenReviews.jwt(AUDIENCE, now.get().minusSeconds(1), "agent-a-a-a"));
        assertEquals(Refusal.Reason.EXPIRED, expired.reason());
        assertTrue(expired.message().startsWith("the bearer token expired at 2025-12-31T23:59:59Z"), expired.message());
        Refusal audience = refused(TestTokenReviews.jwt("https://kubernetes.default.svc", now.get().plusSeconds(60), "agent-a-a-a"));
        assertEquals(Refusal.Reason.AUDIENCE, audience.reason());
        assertEquals("the bearer token is for audience [https://kubernetes.default.svc], this control plane accepts"
                + " only 'weft-control-plane' (a projected serviceAccountToken with that audience)", audience.message());
        assertEquals(Refusal.Reason.MALFORMED, refused("not-a-jwt").reason());
        assertEquals(Refusal.Reason.MALFORMED, refused("a.%%%.c").reason());
        assertEquals(0, verifier.reviewsMade());
    }

    @Test
    void aTokenWithoutPodClaimsOrForAPodThatIsGoneReplacedOrElsewhereIsRefused() {
        assertEquals(Refusal.Reason.NOT_POD_BOUND, refused(token("legacy")).reason());
        Refusal gone = refused(token("agent-c-c-c"));
        assertEquals(Refusal.Reason.POD, gone.reason());
        assertEquals("the token was issued to pod weft-system/weft-agent-c uid uid-c, which no longer exists", gone.message());
        assertEquals(Refusal.Reason.POD, refused(token("agent-a-old-a")).reason(), "a replacement pod of the same name");
        Refusal elsewhere = refused(token("agent-a-a-b"));
        assertEquals("the token names node 'node-b' but pod weft-system/weft-agent-a runs on 'node-a'", elsewhere.message());
    }

    @Test
    void theCacheIsBoundedAndForgetsTheLeastRecentlyUsedToken() {
        verifier.close();
        verifier = verifier(2);
        String a = token("agent-a-a-a");
        String b = token("agent-b-b-b");
        String forged = token("forged");
        verify(a);
        verify(b);
        verify(a);
        verify(forged);
        assertEquals(2, verifier.cached());
        assertEquals(3, verifier.reviewsMade());
        verify(a);
        assertEquals(3, verifier.reviewsMade(), "a was used most recently: kept");
        verify(b);
        assertEquals(4, verifier.reviewsMade(), "b was the eldest: forgotten");
    }

    @Test
    void aReviewThatCannotBeMadeIsUnavailableAndNotCached() {
        verifier.close();
        client.close();
        server.destroy();
        verifier = verifier(16);
        Refusal r = refused(token("agent-a-a-a"));
        assertEquals(Refusal.Reason.REVIEW_UNAVAILABLE, r.reason());
        assertEquals(io.grpc.Status.Code.UNAVAILABLE, r.status().getCode());
        assertEquals(0, verifier.cached());
    }
}
