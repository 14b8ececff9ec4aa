package dev.weft.agent.policy;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/**
 * The denied-connection log (docs/policy-service.md): where the connections that policies annotated
 * {@code weft.dev/log: "true"} deny are written on the node, how the file rotates, and the meter that bounds them.
 */
@ConfigMapping(prefix = "agent.denied-log")
public interface DeniedLogConfig {

    /** The file; rotated files get .1 (newest) to .N. The bundle mounts its directory from the host. */
    @WithDefault("/var/log/weft/np-denied.log")
    String path();

    /** Size at which the file is rotated. */
    @WithDefault("10485760")
    long maxFileBytes();

    /** Rotated files kept besides the current one. */
    @WithDefault("5")
    int maxFiles();

    /** Most connections logged per second on this node (the OpenFlow meter's rate); the rest are not logged. */
    @WithDefault("100")
    long rate();

    /** Connections logged at once above the rate after a quiet spell (the meter's burst). */
    @WithDefault("50")
    long burst();
}
