package dev.weft.localcluster;

import dev.weft.localcluster.ClusterState.NodeState;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code ./localcluster up}: Weft deployed from the bundle (src/main/kubernetes/weft.yml) and the images, as on kind.
 * The topology has no Open vSwitch on the host; the API server is also reachable from the node namespaces (a veth
 * from the root netns into the underlay); the bundle is applied with the local cluster's settings in its ConfigMap;
 * {@link PodmanKubelet} runs the weft-system pods as podman containers, the cluster-controller schedules the
 * Deployments' replicas and keeps the EndpointSlices the agents find the control plane by. Once a node's openvswitch
 * container runs, the node's network configuration (br-phy with the node IP) is made through its database socket, as
 * a host's network configuration would.
 */
final class BundleDeployment {
    static final String BUNDLE = "src/main/kubernetes/weft.yml";

    private final Layout layout;
    private final PrintStream out;
    private final Topology topology;

    BundleDeployment(Layout layout, PrintStream out, Topology topology) {
        this.layout = layout;
        this.out = out;
        this.topology = topology;
    }

    static void preflight(Layout layout) {
        List<String> problems = new ArrayList<>();
        if (!Sh.run("sh", "-c", "command -v podman").ok()) {
            problems.add("missing podman (apt-get install podman runc)");
        } else {
            try {
                for (String image : images(layout)) {
                    if (Podman.exec(List.of("podman", "image", "exists", image), 30).exit() != 0) {
                        loadArchive(layout, image).ifPresent(problems::add);
                    }
                }
                staleImages(layout).ifPresent(System.err::println);
            } catch (IOException | InterruptedException e) {
                problems.add("podman: " + e.getMessage());
            }
        }
        if (!problems.isEmpty()) {
            throw new UserError("cannot start the local cluster:\n  " + String.join("\n  ", problems));
        }
    }

    /**
     * An image missing from the local store is loaded from the OCI archive the build left in images/target (a registry
     * stand-in: another checkout or a {@code podman rmi} may have removed it since). Empty when it is loaded; else why not.
     */
    private static java.util.Optional<String> loadArchive(Layout layout, String image) throws IOException, InterruptedException {
        String name = image.substring(image.lastIndexOf('/') + 1).replaceFirst(":.*", "");
        Path archive = layout.repo().resolve("images/target/" + name + ".oci.tar");
        if (!Files.isRegularFile(archive)) {
            return java.util.Optional.of("image " + image + " is not in the local podman store and " + archive
                    + " does not exist: build the images (./mvnw -B -Pimages package -DskipTests)");
        }
        Podman.Result r = Podman.exec(List.of("podman", "load", "--quiet", "-i", archive.toString()), 300);
        if (r.exit() != 0 || Podman.exec(List.of("podman", "image", "exists", image), 30).exit() != 0) {
            return java.util.Optional.of("image " + image + " could not be loaded from " + archive + ": " + r.err().strip());
        }
        return java.util.Optional.empty();
    }

    /** A warning when a service was rebuilt after the images were: the cluster would run the older code. */
    static java.util.Optional<String> staleImages(Layout layout) throws IOException {
        Path built = layout.repo().resolve("images/target/agent.oci.tar");
        if (!Files.isRegularFile(built)) {
            return java.util.Optional.empty();
        }
        var imagesTime = Files.getLastModifiedTime(built);
        List<String> newer = new ArrayList<>();
        for (String module : List.of("ipam-service", "policy-service", "agent-service", "cli")) {
            Path jar = layout.repo().resolve(module + "/target/quarkus-app/quarkus-run.jar");
            if (Files.isRegularFile(jar) && Files.getLastModifiedTime(jar).compareTo(imagesTime) > 0) {
                newer.add(module);
            }
        }
        return newer.isEmpty() ? java.util.Optional.empty() : java.util.Optional.of("localcluster: warning: " + String.join(", ", newer)
                + " built after the images; the cluster runs the images (rebuild them: ./mvnw -B -Pimages package -DskipTests -pl images)");
    }

    /** The images the bundle's workloads name. */
    static List<String> images(Layout layout) throws IOException {
        List<String> images = new ArrayList<>();
        for (HasMetadata o : BundleContainer.load(layout.repo().resolve(BUNDLE))) {
            var spec = switch (o) {
                case io.fabric8.kubernetes.api.model.apps.Deployment d -> d.getSpec().getTemplate().getSpec();
                case DaemonSet d -> d.getSpec().getTemplate().getSpec();
                default -> null;
            };
            if (spec != null) {
                spec.getInitContainers().forEach(c -> images.add(c.getImage()));
                spec.getContainers().forEach(c -> images.add(c.getImage()));
            }
        }
        return images.stream().distinct().toList();
    }

    ClusterState up(ClusterState cluster, long started) {
        try {
            Services.mkdirs(layout.logs());
            layout.writeCluster(cluster);
            new Cluster(layout, out).writeKubeconfig(cluster);
            Services services = new Services(layout, cluster);

            topology.createUnderlay(cluster.underlayNetns());
            topology.createApiLink(cluster);
            services.startApiServer(java.net.URI.create(cluster.apiUrl()).getPort());
            topology.createOutside(cluster);
            for (int i = 0; i < cluster.nodes().size(); i++) {
                NodeState node = cluster.nodes().get(i);
                topology.createNodeNetns(cluster, node, i + 1);
                Path root = Files.createDirectories(Topology.nodeRoot(layout, node.name()));
                Path link = Topology.nodeRootLink(cluster, node.name());
                Files.deleteIfExists(link);
                Files.createSymbolicLink(link, root);
            }
            services.startHostResponders();
            services.awaitApiServer();
            Cluster.createNodes(cluster);
            Cluster.createKubernetesService(cluster);
            try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
                applyBundle(client, layout, cluster);
                SystemIdentities.create(client, layout, cluster);
            }
            services.startClusterController();
            services.startPodmanKubelet();
            services.awaitAll();
            for (NodeState node : cluster.nodes()) {
                awaitOvs(layout, node);
                topology.configureNodeNetwork(node);
            }
            topology.primeTunnelNeighbours(cluster);
            awaitSystemPods(cluster);
            out.printf("local cluster %s is up in %.1f s: %d nodes, Weft from its bundle (pods as podman containers)%n", cluster.id(),
                    (System.nanoTime() - started) / 1e9, cluster.nodes().size());
            out.println("  Kubernetes API: " + cluster.apiUrl() + " (from the nodes: " + cluster.apiNodeUrl() + ")");
            try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
                for (Pod p : systemPods(client, cluster)) {
                    out.printf("  pod weft-system/%s on %s (%s)%n", p.getMetadata().getName(), p.getSpec().getNodeName(),
                            p.getStatus() == null ? "" : p.getStatus().getPodIP());
                }
            }
            return cluster;
        } catch (IOException e) {
            out.println("up failed: " + e.getMessage());
            throw new UncheckedIOException(e);
        } catch (RuntimeException | Error e) {
            out.println("up failed: " + e.getMessage());
            out.println("logs are in " + layout.logs() + " (podman logs CONTAINER for the pods); run ./localcluster down to remove what was created");
            throw e;
        }
    }

    /**
     * The bundle as a user applies it to a cluster like this one: the ConfigMap's API server override set to the address
     * the nodes reach, the cluster's CIDRs, and the agent told its nodes have no Open vSwitch kernel module (userspace
     * datapath) -- the only changes.
     */
    static void applyBundle(KubernetesClient client, Layout layout, ClusterState cluster) {
        List<HasMetadata> bundle;
        try {
            bundle = BundleContainer.load(layout.repo().resolve(BUNDLE));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        for (HasMetadata o : bundle) {
            if (o instanceof ConfigMap c && c.getMetadata().getName().equals("weft-config")) {
                c.getData().put("AGENT_KUBE_API_SERVER_OVERRIDE", cluster.apiNodeUrl());
                c.getData().put("IPAM_CLUSTER_CIDRS", cluster.clusterCidr());
                c.getData().put("AGENT_SERVICE_CIDR", ServiceAdmission.serviceCidr(cluster).toString());
            }
            if (o instanceof DaemonSet d && d.getMetadata().getName().equals("weft-agent")) {
                d.getSpec().getTemplate().getSpec().getContainers().stream().filter(c -> c.getName().equals("agent")).forEach(c -> {
                    c.getEnv().add(new EnvVar("AGENT_BRIDGE_DATAPATH_TYPE", "netdev", null));
                    c.getEnv().add(new EnvVar("AGENT_CLUSTER_CIDRS", cluster.clusterCidr(), null));
                });
            }
            if (o.getMetadata().getNamespace() == null && !clusterScoped(o)) {
                o.getMetadata().setNamespace("default");
            }
            client.resource(o).createOr(x -> x.update());
        }
    }

    private static boolean clusterScoped(HasMetadata o) {
        return List.of("Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition").contains(o.getKind());
    }

    static List<Pod> systemPods(KubernetesClient client, ClusterState cluster) {
        return client.pods().inNamespace(PodmanKubelet.NAMESPACE).list().getItems().stream()
                .filter(p -> Boolean.TRUE.equals(p.getSpec().getHostNetwork()))
                .filter(p -> p.getSpec().getContainers().stream().noneMatch(c -> "localcluster/process".equals(c.getImage())))
                .toList();
    }

    static void awaitOvs(Layout layout, NodeState node) {
        long deadline = System.nanoTime() + Services.READY_TIMEOUT.toNanos();
        Path sock = Path.of(node.ovsRunDir(), "db.sock");
        while (!(Files.exists(sock) && Sh.run("ovs-vsctl", "--db=unix:" + sock, "--timeout=5", "show").ok())) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("Open vSwitch of " + node.name() + " (openvswitch container) not up after "
                        + Services.READY_TIMEOUT.toSeconds() + " s; see " + layout.log("podman-kubelet"));
            }
            Procs.sleep(500);
        }
    }

    /** Every system pod Ready: the DaemonSet's on every node, each Deployment's replicas. */
    private void awaitSystemPods(ClusterState cluster) {
        long deadline = System.nanoTime() + Services.READY_TIMEOUT.toNanos() * 2;
        String last = "";
        try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
            while (System.nanoTime() < deadline) {
                List<Pod> pods = systemPods(client, cluster);
                List<String> notReady = pods.stream().filter(p -> !ready(p)).map(p -> p.getMetadata().getName()).toList();
                long agents = pods.stream().filter(p -> p.getMetadata().getName().startsWith("weft-agent-")).count();
                if (agents == cluster.nodes().size() && pods.size() >= agents + 4 && notReady.isEmpty()) {
                    return;
                }
                last = pods.size() + " pods, not ready: " + notReady;
                Procs.sleep(1000);
            }
        }
        throw new IllegalStateException("the system pods are not ready after " + Services.READY_TIMEOUT.toSeconds() * 2
                + " s (" + last + "); see " + layout.log("podman-kubelet") + " and podman logs");
    }

    /**
     * Restarts one container of a system pod and waits until the kubelet has seen the new start and the pod is Ready
     * again. {@code kill}: SIGKILL, as a crash; the kubelet starts it again (restartPolicy Always). Otherwise as a
     * kubelet restarts a container: SIGTERM, the pod's grace period, SIGKILL, started again (same container, same
     * volumes).
     */
    static void restartContainer(ClusterState cluster, String pod, String container, boolean kill) {
        String name = PodmanKubelet.containerName(cluster, pod, container);
        try (KubernetesClient api = Kube.client(cluster.apiUrl())) {
            Pod before = api.pods().inNamespace(PodmanKubelet.NAMESPACE).withName(pod).get();
            if (before == null) {
                throw new UserError("no pod " + PodmanKubelet.NAMESPACE + "/" + pod);
            }
            long grace = before.getSpec().getTerminationGracePeriodSeconds() == null ? 30
                    : before.getSpec().getTerminationGracePeriodSeconds();
            String startedBefore = startedAt(before, container);
            List<String> cmd = kill ? List.of("podman", "kill", "--signal", "KILL", name)
                    : List.of("podman", "restart", "--time", String.valueOf(grace), name);
            Podman.Result r = Podman.exec(cmd, (int) grace + 60);
            if (r.exit() != 0) {
                throw new IllegalStateException(String.join(" ", cmd) + ": " + r.err().strip());
            }
            long deadline = System.nanoTime() + Services.READY_TIMEOUT.toNanos();
            while (System.nanoTime() < deadline) {
                Pod now = api.pods().inNamespace(PodmanKubelet.NAMESPACE).withName(pod).get();
                String started = startedAt(now, container);
                if (now != null && ready(now) && started != null && !started.equals(startedBefore)) {
                    return;
                }
                Procs.sleep(500);
            }
            throw new IllegalStateException("pod " + pod + " not ready again after " + Services.READY_TIMEOUT.toSeconds() + " s");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static String startedAt(Pod pod, String container) {
        if (pod == null || pod.getStatus() == null) {
            return null;
        }
        return pod.getStatus().getContainerStatuses().stream().filter(s -> s.getName().equals(container)).findFirst()
                .map(s -> s.getState() == null || s.getState().getRunning() == null ? null : s.getState().getRunning().getStartedAt())
                .orElse(null);
    }

    static boolean ready(Pod p) {
        return p.getStatus() != null && p.getStatus().getConditions().stream()
                .anyMatch(c -> c.getType().equals("Ready") && c.getStatus().equals("True"));
    }

    /** Removes the containers of this cluster (label dev.weft.localcluster=ID); the number removed. */
    static int removeContainers(Layout layout, PrintStream out) {
        var cluster = layout.readCluster();
        if (cluster.isEmpty()) {
            return 0;
        }
        for (NodeState node : cluster.get().nodes()) {
            try {
                Path link = Topology.nodeRootLink(cluster.get(), node.name());
                if (Files.isSymbolicLink(link)) {
                    Files.delete(link);
                }
            } catch (IOException e) {
                out.println("could not remove " + e.getMessage());
            }
        }
        try {
            Podman.Result ps = Podman.exec(List.of("podman", "ps", "-aq", "--filter",
                    "label=" + PodmanKubelet.LABEL + "=" + cluster.get().id()), 60);
            List<String> ids = ps.out().lines().map(String::strip).filter(s -> !s.isEmpty()).toList();
            if (!ids.isEmpty()) {
                List<String> rm = new ArrayList<>(List.of("podman", "rm", "--force", "--time", "10"));
                rm.addAll(ids);
                Podman.Result r = Podman.exec(rm, 180);
                if (r.exit() != 0) {
                    out.println("could not remove every container: " + r.err().strip());
                }
            }
            return ids.size();
        } catch (IOException | InterruptedException e) {
            out.println("could not list the cluster's containers: " + e.getMessage());
            return 0;
        }
    }
}
