package dev.weft.security.auth;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Caller identity on a control-plane service's gRPC API ({@code weft.auth.*}, docs/security.md "Caller identity").
 */
@ConfigMapping(prefix = "weft.auth")
public interface AuthConfig {

    /** false: every caller is answered without a token (a development setting; the bundle never sets it). */
    @WithDefault("true")
    boolean enabled();

    /** The audience the agents' projected tokens are issued for; tokens for any other audience are refused. */
    @WithDefault("weft-control-plane")
    String audience();

    /** ServiceAccounts ({@code namespace:name}) of agents: callers that act only for the node their pod runs on. */
    @WithDefault("weft-system:weft-agent")
    List<String> agentServiceAccounts();

    /**
     * ServiceAccounts of the service's own replicas, which may act for any node (policy-service's followers forward
     * their agents' reports to the leader).
     */
    Optional<List<String>> peerServiceAccounts();

    /** How long an accepted token is believed without asking again (never past the token's own expiry). */
    @WithDefault("60s")
    Duration cacheTtl();

    /** How long a refused token stays refused without asking again: a flood of one forged token costs one review. */
    @WithDefault("10s")
    Duration negativeCacheTtl();

    /** Tokens remembered at most (accepted and refused together); the least recently used one is forgotten first. */
    @WithDefault("4096")
    int cacheSize();

    /** TokenReviews in flight at most; callers with a token unknown beyond that get UNAVAILABLE and retry. */
    @WithDefault("16")
    int maxReviewsInFlight();
}
