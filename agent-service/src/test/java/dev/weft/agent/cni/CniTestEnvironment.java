package dev.weft.agent.cni;

import dev.weft.agent.testing.OvsSandbox;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A simulated node for the agent under test: a private Open vSwitch in its own network namespace (the
 * agent.node-netns), a static pod CIDR, and private state/socket/conf directories.
 */
public class CniTestEnvironment implements QuarkusTestResourceLifecycleManager {

    public static final String POD_CIDR = "10.244.7.0/24";
    public static OvsSandbox ovs;
    public static Path dir;
    /** What this instance started: stop() removes only these (the statics may already name the next class's). */
    private OvsSandbox startedOvs;
    private Path startedDir;

    @Override
    public Map<String, String> start() {
        try {
            startedOvs = OvsSandbox.startInNetns();
            startedDir = Files.createTempDirectory("weft-cni-test-");
            ovs = startedOvs;
            dir = startedDir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return Map.of(
                "agent.ovs-run-dir", ovs.dir.toString(),
                "agent.bridge", ovs.bridge,
                "agent.node-netns", ovs.netns,
                "agent.pod-cidrs", POD_CIDR,
                "agent.state-dir", dir.resolve("state").toString(),
                "agent.cni-socket", dir.resolve("cni.sock").toString(),
                "agent.cni-conf-dir", dir.resolve("net.d").toString());
    }

    @Override
    public void stop() {
        if (startedOvs != null) {
            startedOvs.close();
        }
        if (startedDir != null) {
            try (var files = Files.walk(startedDir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            } catch (IOException e) {
                // temp dir
            }
        }
    }
}
