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

    /**
     * Longest wait between two status rounds (annotations, Events) when nothing wakes the publisher: how soon a new
     * leader compares every policy and a failed write is retried. Changes themselves are published at once.
     */
    @WithDefault("500ms")
    Duration statusInterval();

    /**
     * host:port at which the other replicas reach this one's gRPC API (a follower forwards its agents' reports to the
     * leader there, and the Lease names the leader by it). Default: $POD_IP, else the host name, and the HTTP port.
     */
    java.util.Optional<String> advertiseAddress();

    /**
     * The replica's own projected ServiceAccount token (audience weft-control-plane), sent when it forwards reports
     * to the leader; the leader's {@code weft.auth.peer-service-accounts} lets it speak for any node.
     */
    java.util.Optional<java.nio.file.Path> forwardTokenFile();

    /** Several replicas serve agent streams; the holder of this Lease alone writes status (docs/policy-service.md). */
    LeaderElection leaderElection();

    interface LeaderElection {
        /** false: this replica always writes status (run only one then). */
        @WithDefault("true")
        boolean enabled();

        @WithDefault("weft-policy")
        String leaseName();

        @WithDefault("kube-system")
        String leaseNamespace();

        @WithDefault("15s")
        Duration leaseDuration();

        @WithDefault("10s")
        Duration renewDeadline();

        @WithDefault("2s")
        Duration retryPeriod();
    }
}
