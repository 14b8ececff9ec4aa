package dev.weft.agent.host;

import dev.weft.agent.cni.CniTestEnvironment;

import java.util.HashMap;
import java.util.Map;

/**
 * The CNI tests' simulated node (Open vSwitch in its own network namespace, a static pod CIDR), but with nothing of
 * Weft's on it: the agent must create its bridge. Adds the cluster CIDR and re-checks the host side every second, so
 * that repairs by the timer can be watched.
 */
public class HostTestEnvironment extends CniTestEnvironment {

    static final String CLUSTER_CIDR = "10.244.0.0/16";

    @Override
    public Map<String, String> start() {
        TestNetns.requireRootAndNft();
        Map<String, String> config = new HashMap<>(super.start());
        // A bridge the agent must create itself (the sandbox's own stays untouched).
        config.put("agent.bridge", "bh" + TestNetns.suffix());
        config.put("agent.cluster-cidrs", CLUSTER_CIDR);
        config.put("agent.host-network-resync-seconds", "1");
        return config;
    }
}
