package dev.weft.policy;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.time.Duration;

/** Configuration of policy computation and of the per-node streams. */
@ConfigMapping(prefix = "policy")
public interface PolicyConfig {

    /**
     * Events buffered per agent stream before the stream is closed (the agent then re-syncs from a fresh snapshot):
     * a slow agent must never hold back the others. The initial snapshot does not count against it.
     */
    @WithDefault("10000")
    int streamBufferSize();

    /** Write the realization annotations (weft.dev/realization*) onto NetworkPolicies. */
    @WithDefault("true")
    boolean statusAnnotations();

    /** How often status changes are published (annotations, Events). */
    @WithDefault("500ms")
    Duration statusInterval();
}
