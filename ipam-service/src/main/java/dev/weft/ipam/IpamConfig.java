package dev.weft.ipam;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.util.List;
import java.util.Optional;

/** Configuration of the node IPAM: which pools to carve node pod CIDRs from, and how big the blocks are. */
@ConfigMapping(prefix = "ipam")
public interface IpamConfig {

    /** Cluster CIDRs, IPv4 and/or IPv6 (dual-stack), e.g. 10.10.0.0/16,fd00:10::/48. */
    @WithDefault("10.10.0.0/16")
    List<String> clusterCidrs();

    /** Prefix length of each node's IPv4 block (16-30). */
    @WithDefault("24")
    int nodeMaskSizeV4();

    /** Prefix length of each node's IPv6 block (64-126). */
    @WithDefault("64")
    int nodeMaskSizeV6();

    /** Ranges inside the pools that are never handed out. */
    Optional<List<String>> reservedCidrs();
}
