package dev.weft.security.auth;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.authentication.TokenReview;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder;
import io.fabric8.kubernetes.api.model.authentication.TokenReviewStatus;
import io.fabric8.kubernetes.api.model.authentication.UserInfo;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Turns a bearer token into a {@link CallerIdentity}, with the Kubernetes API as the only judge: a TokenReview for
 * this control plane's audience, then the Pod the token is bound to (it must still exist with the token's uid and
 * run on the token's node).
 * <p>
 * Cheap checks first, without the API: a token that is not a JWT, has expired or was issued for another audience is
 * refused locally (its claims are read unverified only to refuse early; nothing is ever accepted on them). Verdicts
 * are cached by the token's SHA-256, accepted ones until the cache TTL or the token's expiry, refused ones for the
 * negative TTL, in one bounded LRU: a flood of one forged token costs one review, a flood of many distinct ones is
 * limited by the in-flight bound (beyond it: UNAVAILABLE, retry later) and by what the API server's own rate limits
 * allow. Concurrent calls with the same unknown token share one review.
 */
public final class TokenVerifier implements AutoCloseable {

    /** The claims a real API server puts into the review's {@code user.extra} for a pod-bound token. */
    public static final String EXTRA_POD_NAME = "authentication.kubernetes.io/pod-name";
    public static final String EXTRA_POD_UID = "authentication.kubernetes.io/pod-uid";
    public static final String EXTRA_NODE_NAME = "authentication.kubernetes.io/node-name";
    static final String SERVICE_ACCOUNT_USER_PREFIX = "system:serviceaccount:";

    private static final ObjectMapper JSON = new ObjectMapper();

    /** What the verifier is configured with; {@link #of(AuthConfig)} reads it from {@code weft.auth.*}. */
    public record Settings(String audience, Duration cacheTtl, Duration negativeCacheTtl, int cacheSize,
                           int maxReviewsInFlight) {
        public Settings {
            if (audience.isBlank()) {
                throw new IllegalArgumentException("weft.auth.audience must not be empty");
            }
            if (cacheSize < 1 || maxReviewsInFlight < 1) {
                throw new IllegalArgumentException("weft.auth.cache-size and weft.auth.max-reviews-in-flight must be"
                        + " at least 1, got " + cacheSize + " and " + maxReviewsInFlight);
            }
        }

        public static Settings of(AuthConfig config) {
            return new Settings(config.audience(), config.cacheTtl(), config.negativeCacheTtl(), config.cacheSize(),
                    config.maxReviewsInFlight());
        }
    }

    private record Cached(Verdict verdict, Instant until) {
    }

    private final KubernetesClient client;
    private final Settings settings;
    private final InstantSource clock;
    private final Map<String, Cached> cache;
    private final Map<String, CompletableFuture<Verdict>> inFlight = new ConcurrentHashMap<>();
    private final Semaphore reviewSlots;
    private final ExecutorService reviewers = Executors.newThreadPerTaskExecutor(
            Thread.ofVirtual().name("token-review-", 0).factory());
    private final AtomicLong reviews = new AtomicLong();

    public TokenVerifier(KubernetesClient client, Settings settings, InstantSource clock) {
        this.client = client;
        this.settings = settings;
        this.clock = clock;
        this.reviewSlots = new Semaphore(settings.maxReviewsInFlight());
        int max = settings.cacheSize();
        this.cache = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, Cached> eldest) {
                return size() > max;
            }
        };
    }

    /** TokenReviews made so far (the figure a flood test watches). */
    public long reviewsMade() {
        return reviews.get();
    }

    /** Tokens remembered now. */
    public int cached() {
        synchronized (cache) {
            return cache.size();
        }
    }

    /**
     * The verdict on a token: complete at once when local checks or the cache decide, otherwise when the review
     * (made on a virtual thread) is back. Never completes exceptionally.
     */
    public CompletableFuture<Verdict> verify(String token) {
        Instant now = clock.instant();
        Claims claims;
        try {
            claims = Claims.read(token);
        } catch (IllegalArgumentException e) {
            return CompletableFuture.completedFuture(Verdict.refused(Refusal.Reason.MALFORMED,
                    "the bearer token is not a Kubernetes ServiceAccount token: " + e.getMessage()));
        }
        if (claims.expiry().isPresent() && !now.isBefore(claims.expiry().get())) {
            return CompletableFuture.completedFuture(Verdict.refused(Refusal.Reason.EXPIRED,
                    "the bearer token expired at " + claims.expiry().get() + " (now " + now
                            + "): the kubelet refreshes projected tokens, read the file again"));
        }
        if (!claims.audiences().contains(settings.audience())) {
            return CompletableFuture.completedFuture(Verdict.refused(Refusal.Reason.AUDIENCE,
                    "the bearer token is for audience " + claims.audiences() + ", this control plane accepts only '"
                            + settings.audience() + "' (a projected serviceAccountToken with that audience)"));
        }
        String key = sha256(token);
        synchronized (cache) {
            Cached c = cache.get(key);
            if (c != null) {
                if (now.isBefore(c.until())) {
                    return CompletableFuture.completedFuture(c.verdict());
                }
                cache.remove(key);
            }
        }
        CompletableFuture<Verdict> mine = new CompletableFuture<>();
        CompletableFuture<Verdict> running = inFlight.putIfAbsent(key, mine);
        if (running != null) {
            return running;
        }
        if (!reviewSlots.tryAcquire()) {
            inFlight.remove(key, mine);
            mine.complete(Verdict.refused(Refusal.Reason.OVERLOADED, settings.maxReviewsInFlight()
                    + " token reviews are in flight already; retry"));
            return mine;
        }
        reviewers.execute(() -> {
            try {
                Verdict v = review(token);
                Instant at = clock.instant();
                Instant until = switch (v) {
                    case Verdict.Authenticated a -> min(at.plus(settings.cacheTtl()), claims.expiry().orElse(Instant.MAX));
                    case Verdict.Refused r when r.refusal().reason() == Refusal.Reason.REVIEW_UNAVAILABLE -> at;
                    case Verdict.Refused r -> at.plus(settings.negativeCacheTtl());
                };
                if (until.isAfter(at)) {
                    synchronized (cache) {
                        cache.put(key, new Cached(v, until));
                    }
                }
                mine.complete(v);
            } catch (RuntimeException e) {
                mine.complete(Verdict.refused(Refusal.Reason.REVIEW_UNAVAILABLE, "verifying the token failed: " + e));
            } finally {
                inFlight.remove(key, mine);
                reviewSlots.release();
            }
        });
        return mine;
    }

    /** The API server's judgement of the token, then the Pod it names. */
    private Verdict review(String token) {
        TokenReview answer;
        try {
            reviews.incrementAndGet();
            answer = client.authentication().v1().tokenReviews().create(new TokenReviewBuilder()
                    .withNewSpec().withToken(token).withAudiences(settings.audience()).endSpec().build());
        } catch (KubernetesClientException e) {
            return Verdict.refused(Refusal.Reason.REVIEW_UNAVAILABLE,
                    "the Kubernetes API could not review the token (HTTP " + e.getCode() + "); retry");
        }
        TokenReviewStatus status = answer.getStatus();
        if (status == null || !Boolean.TRUE.equals(status.getAuthenticated())) {
            String why = status == null || status.getError() == null || status.getError().isBlank()
                    ? "no reason given" : status.getError();
            return Verdict.refused(Refusal.Reason.REJECTED, "the Kubernetes API did not authenticate the token: " + why);
        }
        if (status.getAudiences() != null && !status.getAudiences().isEmpty()
                && !status.getAudiences().contains(settings.audience())) {
            return Verdict.refused(Refusal.Reason.AUDIENCE, "the Kubernetes API authenticated the token for audience "
                    + status.getAudiences() + ", not '" + settings.audience() + "'");
        }
        Optional<CallerIdentity> caller = identity(status.getUser());
        if (caller.isEmpty()) {
            return Verdict.refused(Refusal.Reason.NOT_POD_BOUND, "the token of "
                    + (status.getUser() == null ? "an unnamed user" : "'" + status.getUser().getUsername() + "'")
                    + " is not a ServiceAccount token bound to a pod (a projected serviceAccountToken is)");
        }
        return checkPod(caller.get());
    }

    /** The caller a review's user names, when it is a ServiceAccount with pod claims (bound token). */
    static Optional<CallerIdentity> identity(UserInfo user) {
        if (user == null || user.getUsername() == null || !user.getUsername().startsWith(SERVICE_ACCOUNT_USER_PREFIX)) {
            return Optional.empty();
        }
        String[] nsName = user.getUsername().substring(SERVICE_ACCOUNT_USER_PREFIX.length()).split(":", -1);
        if (nsName.length != 2 || nsName[0].isEmpty() || nsName[1].isEmpty()) {
            return Optional.empty();
        }
        Map<String, List<String>> extra = user.getExtra() == null ? Map.of() : user.getExtra();
        String pod = single(extra, EXTRA_POD_NAME);
        String uid = single(extra, EXTRA_POD_UID);
        if (pod.isEmpty() || uid.isEmpty()) {
            return Optional.empty();
        }
        return Optional.of(new CallerIdentity(nsName[0], nsName[1], pod, uid, single(extra, EXTRA_NODE_NAME)));
    }

    /** The token outlives neither its pod nor a replacement pod of the same name, and names the pod's real node. */
    private Verdict checkPod(CallerIdentity caller) {
        Pod pod;
        try {
            pod = client.pods().inNamespace(caller.namespace()).withName(caller.podName()).get();
        } catch (KubernetesClientException e) {
            return Verdict.refused(Refusal.Reason.REVIEW_UNAVAILABLE,
                    "the Kubernetes API could not read the caller's pod (HTTP " + e.getCode() + "); retry");
        }
        if (pod == null || !caller.podUid().equals(pod.getMetadata().getUid())) {
            return Verdict.refused(Refusal.Reason.POD, "the token was issued to pod " + caller.namespace() + "/"
                    + caller.podName() + " uid " + caller.podUid() + ", which no longer exists");
        }
        String node = pod.getSpec() == null || pod.getSpec().getNodeName() == null ? "" : pod.getSpec().getNodeName();
        if (!node.equals(caller.nodeName())) {
            return Verdict.refused(Refusal.Reason.POD, "the token names node '" + caller.nodeName() + "' but pod "
                    + caller.namespace() + "/" + caller.podName() + " runs on '" + node + "'");
        }
        return new Verdict.Authenticated(caller);
    }

    private static String single(Map<String, List<String>> extra, String key) {
        List<String> v = extra.get(key);
        return v == null || v.size() != 1 || v.getFirst() == null ? "" : v.getFirst();
    }

    private static Instant min(Instant a, Instant b) {
        return a.isBefore(b) ? a : b;
    }

    private static String sha256(String token) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(token.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        reviewers.shutdownNow();
    }

    /** A JWT's audience and expiry, read without verifying its signature (only to refuse early). */
    record Claims(List<String> audiences, Optional<Instant> expiry) {

        static Claims read(String token) {
            String[] parts = token.split("\\.", -1);
            if (parts.length != 3) {
                throw new IllegalArgumentException("a JWT has 3 dot-separated parts, this has " + parts.length);
            }
            JsonNode payload;
            try {
                payload = JSON.readTree(Base64.getUrlDecoder().decode(parts[1]));
            } catch (IllegalArgumentException | java.io.IOException e) {
                throw new IllegalArgumentException("its payload is not base64url-encoded JSON");
            }
            if (payload == null || !payload.isObject()) {
                throw new IllegalArgumentException("its payload is not a JSON object");
            }
            JsonNode aud = payload.path("aud");
            List<String> audiences = aud.isTextual() ? List.of(aud.asText())
                    : aud.isArray() ? java.util.stream.StreamSupport.stream(aud.spliterator(), false)
                    .map(JsonNode::asText).toList() : List.of();
            JsonNode exp = payload.path("exp");
            Optional<Instant> expiry = exp.isNumber() ? Optional.of(Instant.ofEpochSecond(exp.asLong())) : Optional.empty();
            return new Claims(audiences, expiry);
        }
    }
}
