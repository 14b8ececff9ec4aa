package dev.weft.localcluster;

import dev.weft.localcluster.ClusterState.NodeState;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.weft.localcluster.Sh.cmd;

/**
 * Starts the local cluster's own JVM processes (API server, podman kubelet, cluster-controller, responders) in their own sessions (setsid: they outlive this CLI and a Ctrl-C of it), output to
 * logs/NAME.log, PID recorded in pids/NAME.pid before anything waits on them.
 */
final class Services {
    /** Lean JVMs: 2 cores shared by up to a dozen processes. */
    static final List<String> JVM_FLAGS = List.of("--sun-misc-unsafe-memory-access=allow", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k",
            "-XX:MaxRAM=1g", "-Djava.net.preferIPv4Stack=true");
    static final String LOG_FORMAT = "-Djava.util.logging.SimpleFormatter.format=%1$tT.%1$tL %4$-7s [%3$s] %5$s%6$s%n";
    static final Duration READY_TIMEOUT = Duration.ofSeconds(Integer.getInteger("localcluster.ready-timeout-s", 180));

    private final Layout layout;
    private final ClusterState cluster;
    /** Each started process and the file it writes once ready. */
    private final Map<String, Path> pendingReadiness = new LinkedHashMap<>();

    Services(Layout layout, ClusterState cluster) {
        this.layout = layout;
        this.cluster = cluster;
    }

    void startApiServer(int port) {
        Path portFile = layout.home().resolve("api-server.port");
        List<Object> args = new ArrayList<>(List.of("--port", port, "--port-file", portFile));
        if (cluster.apiNodeUrl() != null) {
            args.addAll(List.of("--also-listen", java.net.URI.create(cluster.apiNodeUrl()).getHost()));
        }
        start("api-server", cmd(layout.javaBin(), JVM_FLAGS, LOG_FORMAT,
                "-cp", layout.toolClasspath(), ApiServer.class.getName(), args));
    }

    /** The kubelets of all nodes (PodmanKubelet, one process), ready after their first pass. */
    void startPodmanKubelet() {
        start("podman-kubelet", cmd(layout.javaBin(), JVM_FLAGS, LOG_FORMAT,
                "-Dweft.repo=" + layout.repo(), "-cp", layout.toolClasspath(), PodmanKubelet.class.getName()));
        pendingReadiness.put("podman-kubelet", layout.home().resolve("podman-kubelet.ready"));
    }

    void awaitApiServer() {
        Cluster.awaitHttpOk("api-server", cluster.apiUrl() + "/api/v1/namespaces/default", proc("api-server"),
                layout.log("api-server"), READY_TIMEOUT);
    }

    /** Port the hosts' responders serve, TCP and UDP (the outside host's "web server", a hostNetwork server on nodes). */
    static final int HOST_PORT = 80;

    /**
     * A responder in each node's netns (its host network: probes from the node, a hostNetwork server on port 80) and in
     * the outside host's; started like a pod's, recorded as {@code host-NAME}, ready when its control socket appears.
     */
    void startHostResponders() {
        mkdirs(layout.hosts());
        List<ClusterState.HostState> hosts = new ArrayList<>();
        hosts.add(cluster.outside());
        for (NodeState node : cluster.nodes()) {
            hosts.add(new ClusterState.HostState(node.name(), node.netns(), node.ip(), node.brPhyMac()));
        }
        for (ClusterState.HostState host : hosts) {
            String name = "host-" + host.name();
            Path control = layout.hostControl(host.name());
            String key = host.name().equals("outside") ? "outside" : "node/" + host.name();
            startAsIs(name, PodResponder.command(layout, host.netns(), key, control, List.of(HOST_PORT), List.of(HOST_PORT)));
            pendingReadiness.put(name, control);
        }
    }

    void startClusterController() {
        start("cluster-controller", cmd(layout.javaBin(), JVM_FLAGS, LOG_FORMAT,
                "-Dweft.repo=" + layout.repo(), "-cp", layout.toolClasspath(), ClusterController.class.getName(),
                "--home", layout.home()));
        pendingReadiness.put("cluster-controller", layout.home().resolve("cluster-controller.ready"));
    }

    void awaitAll() {
        pendingReadiness.forEach(this::awaitFile);
        pendingReadiness.clear();
    }

    private void awaitFile(String name, Path file) {
        long deadline = System.nanoTime() + READY_TIMEOUT.toNanos();
        while (!Files.exists(file)) {
            Procs.Recorded p = proc(name);
            if (p == null || !p.alive()) {
                throw new IllegalStateException(name + " exited during start-up; last lines of its log:\n" + Cluster.tail(layout.log(name), 30));
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(name + " not ready after " + READY_TIMEOUT.toSeconds() + " s; log:\n" + Cluster.tail(layout.log(name), 30));
            }
            Procs.sleep(100);
        }
    }

    private void start(String name, List<String> command) {
        List<String> full = new ArrayList<>();
        full.add("setsid");
        full.addAll(command);
        startAsIs(name, full);
    }

    /**
     * Starts {@code command} as given (a responder's command begins with {@code ip netns exec NS setsid}: a second
     * setsid in front would make the inner one fork, and the recorded PID would not be the responder's).
     */
    private void startAsIs(String name, List<String> full) {
        mkdirs(layout.logs());
        ProcessBuilder pb = new ProcessBuilder(full)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(layout.log(name).toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.environment().put("LOCALCLUSTER_HOME", layout.home().toString());
        pb.environment().put("KUBERNETES_MASTER", cluster.apiUrl());
        pb.environment().remove("QUARKUS_PROFILE");
        try {
            Process p = pb.start();
            Procs.record(layout.pidFile(name), p.pid());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + name, e);
        }
    }

    private Procs.Recorded proc(String name) {
        return Procs.read(layout.pidFile(name)).orElse(null);
    }

    static void mkdirs(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
