package dev.weft.agent.info;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.time.Duration;
import java.util.Optional;

/** The agent's WeftAgentInfo object (docs/metrics.md): whether and how often it is written. */
@ConfigMapping(prefix = "agent.info")
public interface AgentInfoConfig {

    /** Off for agents that must not write to the API (a node run by hand). */
    @WithDefault("true")
    boolean enabled();

    /**
     * How often the object is refreshed. Each write is one PUT of a small object: 1,000 nodes at the default make about
     * 17 writes per second, the same budget Antrea's agents take for AntreaAgentInfo.
     */
    @WithDefault("60s")
    Duration interval();

    /**
     * How often the conditions (healthy, controller, OVSDB, OpenFlow) are looked at between refreshes: a change is
     * written at once, so `kubectl get weftagentinfos` shows a lost connection (or one that came up after start)
     * within this time rather than a whole interval later. At most one extra write per check.
     */
    @WithDefault("5s")
    Duration conditionCheck();

    /** The agent's own pod (the bundle sets them from the downward API), shown in the object. */
    Optional<String> podName();

    Optional<String> podNamespace();
}
