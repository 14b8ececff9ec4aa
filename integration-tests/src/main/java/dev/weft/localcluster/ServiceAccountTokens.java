package dev.weft.localcluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.Signature;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.function.BiFunction;

/**
 * The local API server's ServiceAccount token issuer and reviewer, as a real API server's for bound tokens: TokenRequest
 * issues a JWT signed with a key made at start (RS256; claims iss, sub {@code system:serviceaccount:NS:SA}, aud, iat,
 * nbf, exp and {@code kubernetes.io} with namespace, pod, node and serviceaccount), TokenReview checks signature,
 * expiry, audience and that the pod still exists with that uid, and answers with the user and the
 * {@code authentication.kubernetes.io/pod-name, pod-uid, node-name} extras. Everything else is not authenticated,
 * with the reason in {@code status.error}.
 */
final class ServiceAccountTokens {

    static final String ISSUER = "https://localcluster.weft.dev";
    /** The audience of a token requested without one (a real API server's default). */
    static final String API_AUDIENCE = "https://kubernetes.default.svc";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();

    /** The pod a token is bound to, as the API stores it now. */
    record BoundPod(String uid, String nodeName, String serviceAccount) {
    }

    private final KeyPair keys;

    ServiceAccountTokens() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
            g.initialize(2048);
            keys = g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A bound token for the pod; the caller checked that the pod exists and runs as the ServiceAccount. */
    String issue(String namespace, String serviceAccount, String pod, BoundPod bound, List<String> audiences,
                 long expirationSeconds, Instant now) {
        ObjectNode claims = JSON.createObjectNode();
        claims.put("iss", ISSUER);
        claims.put("sub", "system:serviceaccount:" + namespace + ":" + serviceAccount);
        ArrayNode aud = claims.putArray("aud");
        audiences.forEach(aud::add);
        claims.put("iat", now.getEpochSecond());
        claims.put("nbf", now.getEpochSecond());
        claims.put("exp", now.getEpochSecond() + expirationSeconds);
        ObjectNode k8s = claims.putObject("kubernetes.io");
        k8s.put("namespace", namespace);
        k8s.putObject("pod").put("name", pod).put("uid", bound.uid());
        if (!bound.nodeName().isEmpty()) {
            k8s.putObject("node").put("name", bound.nodeName());
        }
        k8s.putObject("serviceaccount").put("name", serviceAccount);
        try {
            String signingInput = B64.encodeToString("{\"alg\":\"RS256\",\"kid\":\"localcluster\"}".getBytes(StandardCharsets.UTF_8))
                    + "." + B64.encodeToString(JSON.writeValueAsBytes(claims));
            Signature s = Signature.getInstance("SHA256withRSA");
            s.initSign(keys.getPrivate());
            s.update(signingInput.getBytes(StandardCharsets.US_ASCII));
            return signingInput + "." + B64.encodeToString(s.sign());
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The status of a TokenReview of {@code token} for {@code audiences} (empty: the API server's own audience);
     * {@code pods} gives the pod (namespace, name) as stored now, if it exists.
     */
    ObjectNode review(String token, List<String> audiences, BiFunction<String, String, Optional<BoundPod>> pods, Instant now) {
        ObjectNode status = JSON.createObjectNode();
        Optional<String> error = verify(token, audiences.isEmpty() ? List.of(API_AUDIENCE) : audiences, pods, now, status);
        if (error.isPresent()) {
            status.removeAll();
            status.put("authenticated", false);
            status.put("error", error.get());
        }
        return status;
    }

    private Optional<String> verify(String token, List<String> wanted, BiFunction<String, String, Optional<BoundPod>> pods,
                                    Instant now, ObjectNode status) {
        String[] parts = token.split("\\.", -1);
        if (parts.length != 3) {
            return Optional.of("invalid bearer token: not a JWT");
        }
        JsonNode claims;
        try {
            Signature s = Signature.getInstance("SHA256withRSA");
            s.initVerify(keys.getPublic());
            s.update((parts[0] + "." + parts[1]).getBytes(StandardCharsets.US_ASCII));
            if (!s.verify(Base64.getUrlDecoder().decode(parts[2]))) {
                return Optional.of("invalid bearer token: signature not made by this API server");
            }
            claims = JSON.readTree(Base64.getUrlDecoder().decode(parts[1]));
        } catch (IllegalArgumentException | IOException | GeneralSecurityException e) {
            return Optional.of("invalid bearer token: " + e.getMessage());
        }
        if (!ISSUER.equals(claims.path("iss").asText())) {
            return Optional.of("invalid bearer token: issuer " + claims.path("iss").asText() + " is not " + ISSUER);
        }
        if (now.getEpochSecond() >= claims.path("exp").asLong(0)) {
            return Optional.of("invalid bearer token: token has expired");
        }
        List<String> granted = new ArrayList<>();
        for (JsonNode a : claims.path("aud")) {
            if (wanted.contains(a.asText())) {
                granted.add(a.asText());
            }
        }
        if (granted.isEmpty()) {
            return Optional.of("invalid bearer token: token audiences " + claims.path("aud") + " is invalid for the target audiences " + wanted);
        }
        JsonNode k8s = claims.path("kubernetes.io");
        String namespace = k8s.path("namespace").asText();
        String pod = k8s.path("pod").path("name").asText();
        String uid = k8s.path("pod").path("uid").asText();
        String sa = k8s.path("serviceaccount").path("name").asText();
        Optional<BoundPod> stored = pods.apply(namespace, pod);
        if (stored.isEmpty() || !stored.get().uid().equals(uid)) {
            return Optional.of("invalid bearer token: pod " + namespace + "/" + pod + " (uid " + uid + ") is not found");
        }
        status.put("authenticated", true);
        ObjectNode user = status.putObject("user");
        user.put("username", "system:serviceaccount:" + namespace + ":" + sa);
        user.putArray("groups").add("system:serviceaccounts").add("system:serviceaccounts:" + namespace).add("system:authenticated");
        ObjectNode extra = user.putObject("extra");
        extra.putArray("authentication.kubernetes.io/pod-name").add(pod);
        extra.putArray("authentication.kubernetes.io/pod-uid").add(uid);
        String node = k8s.path("node").path("name").asText();
        if (!node.isEmpty()) {
            extra.putArray("authentication.kubernetes.io/node-name").add(node);
        }
        ArrayNode aud = status.putArray("audiences");
        granted.forEach(aud::add);
        return Optional.empty();
    }
}
