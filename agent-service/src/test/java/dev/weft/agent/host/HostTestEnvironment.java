package dev.weft.agent.host;

import dev.weft.agent.testing.OvsSandbox;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;

/**
 * A simulated node for the whole agent: Open vSwitch in its own network namespace (the agent.node-netns) with nothing
 * of Weft's on it, a static pod CIDR, the cluster CIDR, and the host side re-checked every second so that repairs by
 * the timer can be watched.
 */
public class HostTestEnvironment implements QuarkusTestResourceLifecycleManager {

    static final String POD_CIDR = "10.244.7.0/24";
    static final String CLUSTER_CIDR = "10.244.0.0/16";
    static OvsSandbox ovs;
    static Path dir;

    @Override
    public Map<String, String> start() {
        TestNetns.requireRootAndNft();
        try {
            ovs = OvsSandbox.startInNetns();
            dir = Files.createTempDirectory("weft-host-test-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Map.ofEntries(
                Map.entry("agent.ovs-run-dir", ovs.dir.toString()),
                // A bridge the agent must create itself (the sandbox's own stays untouched).
                Map.entry("agent.bridge", "bh" + TestNetns.suffix()),
                Map.entry("agent.node-netns", ovs.netns),
                Map.entry("agent.pod-cidrs", POD_CIDR),
                Map.entry("agent.cluster-cidrs", CLUSTER_CIDR),
                Map.entry("agent.host-network-resync-seconds", "1"),
                Map.entry("agent.state-dir", dir.resolve("state").toString()),
                Map.entry("agent.cni-socket", dir.resolve("cni.sock").toString()),
                Map.entry("agent.cni-conf-dir", dir.resolve("net.d").toString()));
    }

    @Override
    public void stop() {
        if (ovs != null) {
            ovs.close();
        }
        if (dir != null) {
            try (var files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            } catch (IOException e) {
                // temp dir
            }
        }
    }
}
