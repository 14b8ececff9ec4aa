package dev.weft.agent.health;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.time.Duration;

/** How long one unit of each watched loop may take before liveness reports the loop stuck. */
@ConfigMapping(prefix = "agent.watchdog")
public interface WatchdogConfig {

    /**
     * One CNI request (ADD, CHECK, DEL, GC) from the shim. The kubelet gives up on a sandbox after 4 minutes; an ADD
     * that still runs after 2 has stopped making progress (it waits on OVS or the API with shorter timeouts of its own).
     */
    @WithDefault("120s")
    Duration cniRequestBound();

    /** One batch of policy events: applying it to the state, compiling and installing the flows, reporting. */
    @WithDefault("120s")
    Duration policyBatchBound();
}
