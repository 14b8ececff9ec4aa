package dev.weft.localcluster;

import dev.weft.localcluster.ClusterState.NodeState;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** The agent CLI built by the cli module, run against one node's agent (its local API socket, as on a real node). */
final class Weftctl {
    private Weftctl() {
    }

    static Optional<Path> locate(Layout layout) {
        String root = System.getenv("LOCALCLUSTER_SERVICES_ROOT");
        Path base = root == null || root.isBlank() ? layout.repo() : Path.of(root);
        Path jar = base.resolve("cli/target/quarkus-app/quarkus-run.jar");
        return Files.exists(jar) ? Optional.of(jar) : Optional.empty();
    }

    /** Where the node's agent serves its local query API (agent.local-api-socket; /var/run/weft/agent.sock on a node). */
    static Path agentSocket(Layout layout, NodeState node) {
        return layout.node(node.name()).resolve("agent.sock");
    }

    static int run(Layout layout, Path jar, NodeState node, List<String> args, PrintStream out) {
        List<String> command = new ArrayList<>(List.of(layout.javaBin().toString(), "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-jar", jar.toString(), "--socket", agentSocket(layout, node).toString()));
        command.addAll(args);
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            p.getOutputStream().close();
            p.getInputStream().transferTo(out);
            return p.waitFor();
        } catch (IOException e) {
            throw new IllegalStateException("cannot run weftctl: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
