package dev.weft.localcluster;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Where the local cluster keeps its state: by default {@code <repo>/.localcluster}, or {@code $LOCALCLUSTER_HOME}.
 * <pre>
 *   cluster.json          the running cluster (ports, nodes), written once {@code up} has laid out the topology
 *   netns.list            every network namespace we create, appended BEFORE it is created (crash-safe {@code down})
 *   pids/NAME.pid         "PID STARTTIME" of every process we started
 *   nodes/NODE/ovs        that node's Open vSwitch run/db/log directory (pidfiles of ovsdb-server, ovs-vswitchd)
 *   nodes/NODE/agent      the agent's state dir, CNI socket, conf and bin dirs
 *   pods/NS_NAME.json     the kubelet's record of a started pod (netns, IP, responder PID, control socket)
 *   hosts/NAME.sock       the probe socket of a host's responder: each node's host network, the outside host
 *   logs/                 every process's log (kept by {@code down})
 * </pre>
 */
record Layout(Path home, Path repo) {
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    static Layout fromEnvironment() {
        Path repo = Path.of(System.getProperty("weft.repo", ".")).toAbsolutePath().normalize();
        String env = System.getenv("LOCALCLUSTER_HOME");
        Path home = env == null || env.isBlank() ? repo.resolve(".localcluster") : Path.of(env).toAbsolutePath().normalize();
        return new Layout(home, repo);
    }

    Path clusterFile() {
        return home.resolve("cluster.json");
    }

    Path netnsList() {
        return home.resolve("netns.list");
    }

    Path pids() {
        return home.resolve("pids");
    }

    Path pidFile(String name) {
        return pids().resolve(name + ".pid");
    }

    Path logs() {
        return home.resolve("logs");
    }

    Path log(String name) {
        return logs().resolve(name + ".log");
    }

    Path node(String node) {
        return home.resolve("nodes").resolve(node);
    }

    Path pods() {
        return home.resolve("pods");
    }

    Path hosts() {
        return home.resolve("hosts");
    }

    /** The control socket of the responder on a host ("outside", or a node's name for its host network). */
    Path hostControl(String host) {
        return hosts().resolve(host + ".sock");
    }

    Path javaBin() {
        String javaHome = System.getenv().getOrDefault("JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64");
        Path java = Path.of(javaHome, "bin", "java");
        return Files.isExecutable(java) ? java : Path.of("/usr/lib/jvm/temurin-25-jdk-amd64/bin/java");
    }

    /** The classpath of this tool (target/classes + target/lib), for the processes it starts. */
    String toolClasspath() {
        return repo.resolve("integration-tests/target/classes") + ":" + repo.resolve("integration-tests/target/lib") + "/*";
    }

    Optional<ClusterState> readCluster() {
        if (!Files.exists(clusterFile())) {
            return Optional.empty();
        }
        try {
            return Optional.of(JSON.readValue(clusterFile().toFile(), ClusterState.class));
        } catch (IOException e) {
            throw new UncheckedIOException("unreadable " + clusterFile(), e);
        }
    }

    ClusterState requireCluster() {
        return readCluster().orElseThrow(() -> new UserError("no local cluster is running here (" + home + "); run ./localcluster up"));
    }

    void writeCluster(ClusterState state) {
        writeJson(clusterFile(), state);
    }

    static void writeJson(Path file, Object value) {
        try {
            Files.createDirectories(file.getParent());
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            JSON.writeValue(tmp.toFile(), value);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    void rememberNetns(String name) {
        try {
            Files.createDirectories(home);
            Files.writeString(netnsList(), name + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    List<String> rememberedNetns() {
        try {
            return Files.exists(netnsList()) ? Files.readAllLines(netnsList()).stream().filter(s -> !s.isBlank()).distinct().toList()
                    : List.of();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    List<Path> pidFiles() {
        List<Path> files = new ArrayList<>();
        try {
            if (Files.isDirectory(pids())) {
                try (var s = Files.list(pids())) {
                    s.filter(p -> p.toString().endsWith(".pid")).sorted().forEach(files::add);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return files;
    }
}
