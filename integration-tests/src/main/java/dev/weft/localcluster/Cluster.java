package dev.weft.localcluster;

import dev.weft.localcluster.ClusterState.NodeState;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/** Brings the whole local cluster up and down: topology, API server, the bundle's pods as containers, cluster-controller. */
final class Cluster {
    static final String CLUSTER_CIDR = "10.10.0.0/16";
    static final String LOCALCLUSTER_LABEL = "weft.dev/localcluster";

    private final Layout layout;
    private final PrintStream out;
    private final Topology topology;

    Cluster(Layout layout, PrintStream out) {
        this.layout = layout;
        this.out = out;
        this.topology = new Topology(layout);
    }

    ClusterState up(int nodeCount) {
        return up(nodeCount, ServiceAdmission.DEFAULT_SERVICE_CIDR);
    }

    /**
     * The topology (underlay, outside host, node namespaces), the API server, the bundle applied, its pods run as
     * podman containers by {@link PodmanKubelet}: {@link BundleDeployment#up}.
     */
    ClusterState up(int nodeCount, String serviceCidr) {
        if (nodeCount < 1 || nodeCount > 50) {
            throw new UserError("--nodes must be between 1 and 50");
        }
        var services4 = ServiceAdmission.parseCidr(serviceCidr);
        if (services4.overlaps(dev.weft.net.IpPrefix.parse(CLUSTER_CIDR))
                || services4.overlaps(dev.weft.net.IpPrefix.parse(Topology.UNDERLAY_PREFIX + "0/24"))) {
            throw new UserError("--service-cidr " + serviceCidr + " overlaps the pod CIDR " + CLUSTER_CIDR + " or the underlay");
        }
        preflight();
        BundleDeployment.preflight(layout);
        if (layout.readCluster().isPresent() || !layout.rememberedNetns().isEmpty() || !layout.pidFiles().isEmpty()) {
            boolean alive = layout.pidFiles().stream().map(Procs::read).flatMap(java.util.Optional::stream).anyMatch(Procs.Recorded::alive);
            if (alive && layout.readCluster().isPresent()) {
                throw new UserError("a local cluster is already running (" + layout.home() + "); run ./localcluster down first");
            }
            out.println("removing the remains of a previous cluster in " + layout.home());
            down(false);
        }
        long started = System.nanoTime();
        String id = HexFormat.of().formatHex(new byte[]{(byte) ThreadLocalRandom.current().nextInt(), (byte) ThreadLocalRandom.current().nextInt()});
        List<NodeState> nodes = new ArrayList<>();
        int apiPort = freePort();
        for (int i = 1; i <= nodeCount; i++) {
            nodes.add(Topology.plan(layout, id, i));
        }
        ClusterState cluster = new ClusterState(id, layout.home().toString(), "http://127.0.0.1:" + apiPort,
                Topology.underlayNetns(id), Topology.UNDERLAY_PREFIX + "0/24", CLUSTER_CIDR, List.copyOf(nodes),
                Topology.planOutside(id), services4.toString(), "http://" + Topology.API_IP + ":" + apiPort);
        return new BundleDeployment(layout, out, topology).up(cluster, started);
    }

    /** The Node objects, Ready, with their InternalIP. */
    static void createNodes(ClusterState cluster) {
        {
            try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
                for (NodeState node : cluster.nodes()) {
                    client.nodes().resource(new NodeBuilder().withNewMetadata().withName(node.name())
                            .addToLabels("kubernetes.io/hostname", node.name()).addToLabels("kubernetes.io/os", "linux")
                            .addToLabels(LOCALCLUSTER_LABEL, cluster.id()).endMetadata()
                            .withNewStatus()
                            .addNewAddress().withType("InternalIP").withAddress(node.ip()).endAddress()
                            .addNewAddress().withType("Hostname").withAddress(node.name()).endAddress()
                            .addNewCondition().withType("Ready").withStatus("True").withReason("KubeletReady").endCondition()
                            .endStatus().build()).create();
                }
            }
        }
    }

    /**
     * The {@code kubernetes} Service in default, as kube-apiserver keeps it: the first address of the service CIDR, port
     * 443 (named https) to the API server's address as the nodes reach it ({@link Topology#API_IP}, plain HTTP), with an
     * EndpointSlice the cluster-controller leaves alone (no selector).
     */
    static void createKubernetesService(ClusterState cluster) {
        var cidr = ServiceAdmission.serviceCidr(cluster);
        java.net.URI api = java.net.URI.create(cluster.apiNodeUrl());
        try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
            var svc = new io.fabric8.kubernetes.api.model.ServiceBuilder().withNewMetadata().withName("kubernetes").withNamespace("default")
                    .addToLabels("component", "apiserver").addToLabels("provider", "kubernetes").endMetadata()
                    .withNewSpec().withClusterIP(ServiceAdmission.kubernetesIp(cidr).toString())
                    .addNewPort().withName("https").withProtocol("TCP").withPort(443)
                    .withTargetPort(new io.fabric8.kubernetes.api.model.IntOrString(api.getPort())).endPort().endSpec().build();
            var admitted = ServiceAdmission.admit(cidr, List.of(), List.of(svc), new java.util.Random()).getFirst();
            client.services().inNamespace("default").resource(admitted).create();
            client.discovery().v1().endpointSlices().inNamespace("default").resource(
                    EndpointSlices.kubernetesSlice(api.getHost(), api.getPort())).create();
        }
    }

    /** Kills every recorded process (pods first), deletes every namespace we made, removes the state but keeps logs/. */
    void down(boolean verbose) {
        List<Path> pidFiles = new ArrayList<>(layout.pidFiles());
        // Order: pods, the host responders, the controller and the kubelet, then the API server.
        pidFiles.sort((a, b) -> Integer.compare(stopOrder(a), stopOrder(b)));
        int killed = 0;
        // Tier by tier, all processes of a tier at once: SIGTERM, a shared grace period, then SIGKILL.
        java.util.TreeMap<Integer, List<Procs.Recorded>> tiers = new java.util.TreeMap<>();
        for (Path file : pidFiles) {
            Procs.read(file).filter(Procs.Recorded::alive).ifPresent(p -> tiers.computeIfAbsent(stopOrder(file), k -> new ArrayList<>()).add(p));
        }
        for (List<Procs.Recorded> tier : tiers.values()) {
            killed += Procs.stopAll(tier, 5000);
        }
        // The system pods' containers (the kubelet is stopped above): before their network namespaces go.
        killed += BundleDeployment.removeContainers(layout, out);
        int removed = 0;
        List<String> netns = new ArrayList<>(layout.rememberedNetns());
        java.util.Collections.reverse(netns); // pods, then nodes, the outside host, then the underlay
        for (String ns : netns) {
            PodHosts.remove(ns); // the pods' hosts files (a kubelet killed before its pod's cleanup leaves them)
            if (Files.exists(Path.of("/var/run/netns", ns))) {
                Sh.Result r = Sh.run("ip", "netns", "delete", ns);
                if (r.ok()) {
                    removed++;
                } else {
                    out.println("could not delete netns " + ns + ": " + r.err().strip());
                }
            }
        }
        deleteStateKeepingLogs();
        if (verbose) {
            out.printf("local cluster down: %d processes stopped, %d network namespaces removed (logs kept in %s)%n",
                    killed, removed, layout.logs());
        }
    }

    private static int stopOrder(Path pidFile) {
        String name = pidFile.getFileName().toString();
        if (name.startsWith("pod-") || name.startsWith("host-")) return 0;
        if (name.startsWith("cluster-controller") || name.startsWith("podman-kubelet")) return 1;
        if (name.startsWith("api-server")) return 2;
        return 3;
    }

    private void deleteStateKeepingLogs() {
        Path home = layout.home();
        if (!Files.isDirectory(home)) {
            return;
        }
        try (Stream<Path> s = Files.list(home)) {
            for (Path p : s.filter(p -> !p.getFileName().toString().equals("logs")).toList()) {
                deleteRecursively(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (Files.isDirectory(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            try (Stream<Path> s = Files.list(p)) {
                for (Path c : s.toList()) {
                    deleteRecursively(c);
                }
            }
        }
        Files.deleteIfExists(p);
    }

    /** What the host itself needs: the pods' namespaces and links, and the Open vSwitch tools for the node's network. */
    private void preflight() {
        List<String> problems = new ArrayList<>();
        if (!"root".equals(System.getProperty("user.name"))) {
            problems.add("must run as root (network namespaces, containers)");
        }
        for (String tool : List.of("ip", "ovs-vsctl", "ovs-ofctl", "ovs-appctl", "setsid", "ethtool")) {
            if (!Sh.run("sh", "-c", "command -v " + tool).ok()) {
                problems.add("missing tool " + tool + " (apt-get install openvswitch-switch iproute2 util-linux ethtool)");
            }
        }
        if (!problems.isEmpty()) {
            throw new UserError("cannot start the local cluster:\n  " + String.join("\n  ", problems));
        }
    }

    void writeKubeconfig(ClusterState cluster) {
        String yaml = """
                apiVersion: v1
                kind: Config
                clusters:
                - name: weft-local
                  cluster:
                    server: %s
                contexts:
                - name: weft-local
                  context:
                    cluster: weft-local
                    namespace: default
                current-context: weft-local
                users: []
                """.formatted(cluster.apiUrl());
        try {
            Files.writeString(layout.home().resolve("kubeconfig"), yaml);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** GET url until it answers 200, the process dies, or the timeout passes. */
    static void awaitHttpOk(String what, String url, Procs.Recorded proc, Path log, Duration timeout) {
        HttpClient http = KubeletProbe.client(url);
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "no answer";
        while (System.nanoTime() < deadline) {
            if (proc != null && !proc.alive()) {
                throw new IllegalStateException(what + " exited during start-up; last lines of " + log + ":\n" + tail(log, 30));
            }
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(3)).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    return;
                }
                last = r.statusCode() + " " + r.body();
            } catch (IOException e) {
                last = e.toString();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            Procs.sleep(200);
        }
        throw new IllegalStateException(what + " not ready after " + timeout.toSeconds() + " s (" + url + ": " + last
                + "); last lines of " + log + ":\n" + tail(log, 30));
    }

    static String tail(Path log, int lines) {
        try {
            List<String> all = Files.exists(log) ? Files.readAllLines(log) : List.of();
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException | java.io.UncheckedIOException e) {
            return "(unreadable: " + e.getMessage() + ")";
        }
    }
}
