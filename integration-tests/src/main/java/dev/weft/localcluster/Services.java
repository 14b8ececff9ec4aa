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
 * Starts the cluster's JVM processes in their own sessions (setsid: they outlive this CLI and a Ctrl-C of it), output to
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
    private final Map<String, String> pendingReadiness = new LinkedHashMap<>();

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

    /** The podman runtime's kubelets (PodmanKubelet), ready after their first pass. */
    void startPodmanKubelet() {
        start("podman-kubelet", cmd(layout.javaBin(), JVM_FLAGS, LOG_FORMAT,
                "-Dweft.repo=" + layout.repo(), "-cp", layout.toolClasspath(), PodmanKubelet.class.getName()));
        pendingReadiness.put("podman-kubelet", "file:" + layout.home().resolve("podman-kubelet.ready"));
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
            pendingReadiness.put(name, "file:" + control);
        }
    }

    void startControlPlane() {
        startControlPlaneService("ipam-service");
        startControlPlaneService("policy-service");
    }

    /** Starts ipam-service or policy-service with the cluster's configuration (also again, after it was killed). */
    void startControlPlaneService(String name) {
        switch (name) {
            case "ipam-service" -> startQuarkus("ipam-service", cluster.ipamPort(), List.of(
                    "-Dipam.cluster-cidrs=" + cluster.clusterCidr(),
                    "-Dipam.leader-election.enabled=false"));
            case "policy-service" -> startQuarkus("policy-service", cluster.policyPort(), List.of());
            default -> throw new IllegalArgumentException("not a control-plane service: " + name);
        }
    }

    void startAgents() {
        for (NodeState node : cluster.nodes()) {
            startAgent(node);
        }
    }

    void startAgent(NodeState node) {
        for (String dir : List.of(node.agentStateDir(), node.cniConfDir(), node.cniBinDir())) {
            mkdirs(Path.of(dir));
        }
        // The plugin binary is the conflist's type, "weft": the shim's launcher, linked as docs/agent-cni.md says.
        try {
            Path plugin = Path.of(node.cniBinDir(), "weft");
            Files.deleteIfExists(plugin);
            Files.createSymbolicLink(plugin, layout.cniShim());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot install the CNI plugin in " + node.cniBinDir(), e);
        }
        startQuarkus("agent-" + node.name(), node.agentPort(), List.of(
                "-Dagent.node-name=" + node.name(),
                "-Dagent.bridge=br-int",
                // `get weftagentinfos` on a local cluster should show a change within seconds, not a minute.
                "-Dagent.info.interval=5s",
                "-Dagent.bridge-datapath-type=netdev",
                "-Dagent.cluster-cidrs=" + cluster.clusterCidr(),
                // ClusterIPs from each node's host network (probe --from node/NAME), through its switch
                "-Dagent.service-cidr=" + ServiceAdmission.serviceCidr(cluster),
                "-Dagent.ovs-run-dir=" + node.ovsRunDir(),
                "-Dagent.state-dir=" + node.agentStateDir(),
                "-Dagent.node-netns=" + node.netns(),
                "-Dagent.cni-socket=" + node.cniSocket(),
                "-Dagent.local-api-socket=" + Weftctl.agentSocket(layout, node),
                "-Dagent.cni-conf-dir=" + node.cniConfDir(),
                "-Dquarkus.grpc.clients.controlplane.host=127.0.0.1",
                "-Dquarkus.grpc.clients.controlplane.port=" + cluster.policyPort(),
                "-Dquarkus.grpc.clients.ipam.host=127.0.0.1",
                "-Dquarkus.grpc.clients.ipam.port=" + cluster.ipamPort(),
                // Its identity on the control plane: the token of its pod weft-system/weft-agent-NODE (SystemIdentities).
                "-Dagent.control-plane-token-file=" + SystemIdentities.agentTokenFile(layout, node),
                // ... and towards the other agents (traceflow's cross-node phases), a token of their own audience.
                "-Dagent.peer-token-file=" + SystemIdentities.agentPeerTokenFile(layout, node),
                // traceflow: the agents share this host, each on its own port, not on their node's IP
                "-Dweft.traceflow.peer-agents=" + String.join(",", cluster.nodes().stream()
                        .map(n -> n.name() + "=127.0.0.1:" + n.agentPort()).toList())));
    }

    /** Stops one node's agent (SIGTERM) and starts it again with the same configuration; waits until it is ready. */
    void restartAgent(NodeState node) {
        String name = "agent-" + node.name();
        Procs.read(layout.pidFile(name)).ifPresent(p -> Procs.stop(p, 10_000));
        startAgent(node);
        awaitAll();
    }

    void startClusterController() {
        start("cluster-controller", cmd(layout.javaBin(), JVM_FLAGS, LOG_FORMAT,
                "-Dweft.repo=" + layout.repo(), "-cp", layout.toolClasspath(), ClusterController.class.getName(),
                "--home", layout.home()));
        pendingReadiness.put("cluster-controller", "file:" + layout.home().resolve("cluster-controller.ready"));
    }

    void awaitAll() {
        for (var e : pendingReadiness.entrySet()) {
            String name = e.getKey();
            if (e.getValue().startsWith("file:")) {
                awaitFile(name, Path.of(e.getValue().substring(5)));
            } else {
                Cluster.awaitHttpOk(name, e.getValue(), proc(name), layout.log(name), READY_TIMEOUT);
            }
        }
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

    private void startQuarkus(String name, int port, List<String> props) {
        String module = name.startsWith("agent-") ? "agent-service" : name;
        Path jar = layout.serviceJar(module);
        List<String> command = new ArrayList<>(cmd(layout.javaBin(), JVM_FLAGS));
        Path aot = jar.resolveSibling("app.aot");
        if (Files.exists(aot)) {
            command.add("-XX:AOTCache=" + aot);
        }
        command.addAll(List.of(
                "-Dquarkus.http.port=" + port,
                "-Dquarkus.http.host=127.0.0.1",
                "-Dquarkus.kubernetes-client.api-server-url=" + cluster.apiUrl(),
                // The quarkus.kubernetes-client.* keys are fixed at build time: the fabric8 client's own
                // auto-configuration (system properties, $KUBECONFIG) is what reaches the runtime client.
                "-Dkubernetes.master=" + cluster.apiUrl(),
                "-Dkubernetes.namespace=default",
                "-Dkubernetes.auth.tryServiceAccount=false",
                "-Dkubernetes.auth.tryKubeConfig=false",
                // Keys of another version of a service must not stop it from starting.
                "-Dsmallrye.config.mapping.validate-unknown=false",
                "--sun-misc-unsafe-memory-access=allow"));
        command.addAll(props);
        command.addAll(List.of("-jar", jar.toString()));
        start(name, command);
        // ipam-service and policy-service serve HTTP and gRPC over TLS only (self-managed CA, docs/security.md);
        // the agent's HTTP port is plaintext on loopback, its gRPC answering other agents' peer tokens only.
        String scheme = module.equals("agent-service") ? "http" : "https";
        pendingReadiness.put(name, scheme + "://127.0.0.1:" + port + "/q/health/ready");
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
