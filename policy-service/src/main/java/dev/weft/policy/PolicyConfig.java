package dev.weft.policy;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/** Configuration of policy computation and of the per-node streams. */
@ConfigMapping(prefix = "policy")
public interface PolicyConfig {

    /**
     * Events buffered per agent stream before the stream is closed (the agent then re-syncs from a fresh snapshot):
     * a slow agent must never hold back the others.
     */
    @WithDefault("10000")
    int streamBufferSize();
}
