package dev.weft.ipam;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Configuration of the node IPAM: which pools to carve node pod CIDRs from, how big the blocks are, and how replicas
 * elect the one allocator. Validated at start-up by {@link IpamSettings#from(IpamConfig)}: an invalid value stops the
 * service with a message naming the key.
 */
@ConfigMapping(prefix = "ipam")
public interface IpamConfig {

    /** Cluster CIDRs (pools), IPv4 and/or IPv6 (dual-stack), several per family allowed, e.g. 10.10.0.0/16,fd00:10::/48. */
    @WithDefault("10.10.0.0/16")
    List<String> clusterCidrs();

    /** Prefix length of each node's IPv4 block (16-30). */
    @WithDefault("24")
    int nodeMaskSizeV4();

    /** Prefix length of each node's IPv6 block (64-126). */
    @WithDefault("64")
    int nodeMaskSizeV6();

    /** Ranges inside the pools that are never handed out (every node block overlapping one is withheld). */
    Optional<List<String>> reservedCidrs();

    /**
     * A read-only replica answers queries from its Node informer but never takes part in the election nor writes
     * Nodes (e.g. a query-only instance next to the allocating ones).
     */
    @WithDefault("false")
    boolean readOnly();

    /** Namespace of the Events recorded for Nodes (Nodes are cluster-scoped; Kubernetes records theirs in "default"). */
    @WithDefault("default")
    String eventNamespace();

    LeaderElection leaderElection();

    /** Only the holder of a coordination.k8s.io/v1 Lease allocates, so several replicas can run for availability. */
    interface LeaderElection {
        /** false: this replica allocates without a Lease (one replica only). */
        @WithDefault("true")
        boolean enabled();

        @WithDefault("weft-ipam")
        String leaseName();

        @WithDefault("kube-system")
        String leaseNamespace();

        /** Holder identity written in the Lease; default: host name plus a random suffix. */
        Optional<String> identity();

        /** How long a Lease stays valid without renewal: the longest a failed leader blocks allocation. */
        @WithDefault("15s")
        Duration leaseDuration();

        /** A leader that could not renew for this long stops allocating (must be shorter than the lease duration). */
        @WithDefault("10s")
        Duration renewDeadline();

        /** Pause between attempts to acquire or renew. */
        @WithDefault("2s")
        Duration retryPeriod();
    }
}
