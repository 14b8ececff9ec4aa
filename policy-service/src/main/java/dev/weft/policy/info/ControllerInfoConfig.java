package dev.weft.policy.info;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.time.Duration;
import java.util.Optional;

/** The WeftControllerInfo object (docs/policy-service.md): whether, how soon and how often the leader writes it. */
@ConfigMapping(prefix = "policy.controller-info")
public interface ControllerInfoConfig {

    /** Off for a policy-service that must not write to the API. */
    @WithDefault("true")
    boolean enabled();

    /**
     * Least time between two writes: changes (agents connecting, policies computed) are written at once when the
     * last write is older, otherwise batched into one write at the end of this interval. A burst of 1,000 agents
     * reconnecting costs one write per interval, not 1,000.
     */
    @WithDefault("5s")
    Duration minInterval();

    /** Longest time between two writes when nothing changes: the heartbeat that says the leader is alive. */
    @WithDefault("60s")
    Duration refreshInterval();

    /**
     * How long an agent whose policy stream is on another replica still counts as connected after its last report
     * reached this one (followers forward their agents' reports to the leader; agents re-send theirs every 30 s).
     */
    @WithDefault("90s")
    Duration forwardedAgentWindow();

    /** This replica's pod (the bundle sets them from the downward API): the leader pod in the object. */
    Optional<String> podName();

    Optional<String> podNamespace();
}
