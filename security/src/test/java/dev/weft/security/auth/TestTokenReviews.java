package dev.weft.security.auth;

import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The TokenReview side of a test's Kubernetes API (fabric8's mock server): tokens issued here are JWT-shaped (so the
 * verifier's local checks see a real audience and expiry) and authenticated as the pod-bound ServiceAccount token
 * they were issued for; every other token is answered "not authenticated", as an API server answers a forged one.
 * Shared with the services' tests (security's test-jar).
 */
public final class TestTokenReviews {

    public static final String AUDIENCE = "weft-control-plane";

    private record Issued(CallerIdentity caller, String audience) {
    }

    private final Map<String, Issued> issued = new ConcurrentHashMap<>();

    /** Answers {@code POST /apis/authentication.k8s.io/v1/tokenreviews} on the server from now on. */
    public TestTokenReviews serveOn(KubernetesMockServer server) {
        server.expect().post().withPath("/apis/authentication.k8s.io/v1/tokenreviews")
                .andReply(201, req -> answer(Serialization.unmarshal(req.getBody().readUtf8(), TokenReview.class)))
                .always();
        return this;
    }

    /** A token for this caller's pod, for {@link #AUDIENCE}, valid for an hour. */
    public String issue(CallerIdentity caller) {
        return issue(caller, AUDIENCE, Instant.now().plusSeconds(3600));
    }

    public String issue(CallerIdentity caller, String audience, Instant expiry) {
        String token = jwt(audience, expiry, UUID.randomUUID().toString());
        issued.put(token, new Issued(caller, audience));
        return token;
    }

    /** A token that looks like one issued here but is not (another signer). */
    public static String forged() {
        return jwt(AUDIENCE, Instant.now().plusSeconds(3600), "forged-" + UUID.randomUUID());
    }

    public static String jwt(String audience, Instant expiry, String id) {
        Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
        String header = b64.encodeToString("{\"alg\":\"RS256\",\"kid\":\"test\"}".getBytes(StandardCharsets.UTF_8));
        String payload = b64.encodeToString(("{\"aud\":[\"" + audience + "\"],\"exp\":" + expiry.getEpochSecond()
                + ",\"jti\":\"" + id + "\"}").getBytes(StandardCharsets.UTF_8));
        return header + "." + payload + "." + b64.encodeToString(id.getBytes(StandardCharsets.UTF_8));
    }

    TokenReview answer(TokenReview in) {
        Issued i = issued.get(in.getSpec().getToken());
        var status = new TokenReviewBuilder(in).editOrNewStatus();
        List<String> asked = in.getSpec().getAudiences() == null ? List.of() : in.getSpec().getAudiences();
        if (i == null || !asked.contains(i.audience())) {
            return status.withAuthenticated(false).withError("invalid bearer token").endStatus().build();
        }
        CallerIdentity c = i.caller();
        return status.withAuthenticated(true).withAudiences(List.of(i.audience())).withNewUser()
                .withUsername("system:serviceaccount:" + c.namespace() + ":" + c.serviceAccount())
                .withExtra(Map.of(TokenVerifier.EXTRA_POD_NAME, List.of(c.podName()),
                        TokenVerifier.EXTRA_POD_UID, List.of(c.podUid()),
                        TokenVerifier.EXTRA_NODE_NAME, List.of(c.nodeName())))
                .endUser().endStatus().build();
    }
}
