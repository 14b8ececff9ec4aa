package dev.weft.localcluster;

import dev.weft.localcluster.ClusterState.NodeState;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.apps.DaemonSet;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;

/**
 * The local cluster's kubelets for the system pods (one process for every node): runs the weft-system pods bound to a node as podman
 * containers, as a kubelet runs a cluster's system pods.
 * <ul>
 *   <li>DaemonSets: one pod per node ({@code NAME-NODE}), owned by the DaemonSet; Deployments' pods come from the
 *       cluster-controller (replicas, scheduling) like application pods;</li>
 *   <li>hostNetwork pods only (the bundle's are): every container joins the node's network namespace
 *       ({@code --network ns:/run/netns/NODE-NETNS});</li>
 *   <li>init containers run first, in order, to completion; then the containers, restarted when they exit
 *       (restartPolicy Always) or fail their liveness probe {@code failureThreshold} times; a container that exits
 *       again within its back-off is left waiting ({@code CrashLoopBackOff}: 10 s, doubling to 5 min, forgotten after
 *       10 min without a crash), as a kubelet does;</li>
 *   <li>hostPath volumes map to the node's directory {@code nodes/NODE/root/PATH} (/var/run/netns and character devices
 *       are the machine's); projected ServiceAccount tokens are requested from the API server bound to the pod and
 *       renewed; emptyDir is a tmpfs;</li>
 *   <li>env from values, ConfigMap keys and the downward API; the API server is plain HTTP without Service proxy in
 *       front, so in-cluster clients are pointed at it with {@code KUBERNETES_MASTER};</li>
 *   <li>startup and readiness probes (exec via podman exec, httpGet from inside the node's netns) make the pod Ready;
 *       status (podIP = node IP, conditions, container ids) is written back, so the headless Services'
 *       EndpointSlices point at ready pods.</li>
 * </ul>
 * Containers are named {@code wft-ID-POD-CONTAINER} and labelled {@code dev.weft.localcluster=ID}; {@code down} removes
 * them by that label. Usage: {@code PodmanKubelet} with {@code $LOCALCLUSTER_HOME} set; ready file podman-kubelet.ready.
 */
public final class PodmanKubelet {
    private static final Logger LOG = Logger.getLogger(PodmanKubelet.class.getName());
    static final String NAMESPACE = SystemIdentities.NAMESPACE;
    static final String LABEL = "dev.weft.localcluster";

    private final Layout layout;
    private final ClusterState cluster;
    private final KubernetesClient client;
    private final Podman podman;
    /** Per container (its podman name): probe bookkeeping. */
    private final Map<String, ProbeState> probes = new HashMap<>();
    /** Pods whose init containers completed, by uid. */
    private final Map<String, Boolean> initialized = new HashMap<>();
    private final Map<String, Long> backoffUntil = new HashMap<>();
    /** Per container (its podman name): the kubelet's crash back-off. */
    private final Map<String, CrashBackoff> crashBackoff = new HashMap<>();

    /** When the container was last started again after an exit, and how long a next exit waits before its restart. */
    record CrashBackoff(long restartedAt, long delayMs) {
        static final long INITIAL_MS = 10_000;
        static final long MAX_MS = 300_000;
        /** A container that ran this long since its last restart starts over with no back-off. */
        static final long FORGET_MS = 600_000;

        /** The back-off after a restart now: none before the first, then 10 s, doubling up to 5 min. */
        static CrashBackoff next(CrashBackoff last, long now) {
            if (last == null || now - last.restartedAt > FORGET_MS) {
                return new CrashBackoff(now, INITIAL_MS);
            }
            return new CrashBackoff(now, Math.min(MAX_MS, last.delayMs * 2));
        }

        boolean waiting(long now) {
            return now - restartedAt < delayMs;
        }
    }

    static final class ProbeState {
        /** When the container started, as podman reports it ("" unknown); probes wait their initialDelaySeconds from it. */
        String startedAt;
        long lastProbe;
        int startupFailures;
        boolean started;
        boolean ready;
        int livenessFailures;
        long lastLiveness;
        /** The last probe failure logged (each different one is logged once). */
        String lastFailure;

        /**
         * Whether probe {@code p} is due at {@code now}; if it is, its period starts again now. Only a probe that runs
         * restarts the period: the kubelet's passes come faster than a period, and a period restarted by every pass
         * would never end.
         */
        boolean due(Probe p, long now) {
            if (!periodDue(p, lastProbe, now) || !delayOver(p, now)) {
                return false;
            }
            lastProbe = now;
            return true;
        }

        /**
         * Counts a failed startup probe; true when the container must be restarted, as the kubelet does after
         * failureThreshold (default 3) consecutive failures.
         */
        boolean startupFailed(Probe p) {
            return ++startupFailures >= (p.getFailureThreshold() == null ? 3 : p.getFailureThreshold());
        }

        /** Whether the probe's initialDelaySeconds since the container started have passed. */
        boolean delayOver(Probe p, long now) {
            return now >= startedAtMillis() + 1000L * nonNegative(p.getInitialDelaySeconds());
        }

        private long startedAtMillis() {
            try {
                return startedAt == null || startedAt.isEmpty() ? 0 : Instant.parse(startedAt).toEpochMilli();
            } catch (java.time.format.DateTimeParseException e) {
                return 0;
            }
        }

        private static int nonNegative(Integer seconds) {
            return seconds == null ? 0 : Math.max(0, seconds);
        }
    }

    /** A probe's verdict and what it saw (logged when it failed). */
    record ProbeOutcome(boolean ok, String seen) {
    }

    PodmanKubelet(Layout layout, ClusterState cluster, KubernetesClient client, Podman podman) {
        this.layout = layout;
        this.cluster = cluster;
        this.client = client;
        this.podman = podman;
    }

    public static void main(String[] args) throws Exception {
        java.util.logging.Logger.getLogger("io.fabric8").setLevel(java.util.logging.Level.WARNING);
        Layout layout = Layout.fromEnvironment();
        ClusterState cluster = layout.requireCluster();
        try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
            PodmanKubelet kubelet = new PodmanKubelet(layout, cluster, client, new Podman(layout.repo()));
            boolean first = true;
            while (true) {
                long passStart = System.nanoTime();
                try {
                    kubelet.reconcile();
                    long ms = (System.nanoTime() - passStart) / 1_000_000;
                    if (ms > 3000) {
                        LOG.info("a pass took " + ms + " ms");
                    }
                    if (first) {
                        Files.writeString(layout.home().resolve("podman-kubelet.ready"), "ready\n");
                        first = false;
                    }
                } catch (RuntimeException | IOException e) {
                    LOG.warning("pass failed: " + e);
                }
                Thread.sleep(1000);
            }
        }
    }

    /** The uid of the pod a container was started for: a pod recreated under the same name gets new containers. */
    static final String POD_UID_LABEL = "dev.weft.pod-uid";
    /** As the DaemonSet controller labels its pods: which template a pod was made from. */
    static final String REVISION_LABEL = "controller-revision-hash";

    /** A container as podman reports it: state, id, restart count, the pod uid it was started for, start time. */
    record ContainerState(String status, String id, int restarts, String podUid, String startedAt) {
        boolean running() {
            return status.equals("running");
        }
    }

    /** The container's state; empty when there is none. */
    private java.util.Optional<ContainerState> inspect(String name) throws IOException, InterruptedException {
        Podman.Result r = podman.podman(List.of("inspect", "--format", "{{.State.Status}} {{.Id}} {{.RestartCount}} {{index .Config.Labels \""
                + POD_UID_LABEL + "\"}} {{.State.StartedAt.UTC.Format \"2006-01-02T15:04:05.000Z\"}}", name), 30);
        if (r.exit() != 0) {
            return java.util.Optional.empty();
        }
        String[] f = r.out().strip().split(" ", 5);
        return java.util.Optional.of(new ContainerState(f[0], f[1], Integer.parseInt(f[2]), f[3], f.length > 4 ? f[4] : ""));
    }

    static String containerName(ClusterState cluster, String pod, String container) {
        return "wft-" + cluster.id() + "-" + pod + "-" + container;
    }

    // ------------------------------------------------------------------ reconcile

    void reconcile() throws IOException, InterruptedException {
        daemonSets();
        Map<String, NodeState> nodes = new HashMap<>();
        cluster.nodes().forEach(n -> nodes.put(n.name(), n));
        Map<String, ConfigMap> configMaps = new HashMap<>();
        client.configMaps().inNamespace(NAMESPACE).list().getItems().forEach(c -> configMaps.put(c.getMetadata().getName(), c));
        List<String> wanted = new ArrayList<>();
        for (Pod pod : client.pods().inNamespace(NAMESPACE).list().getItems()) {
            NodeState node = pod.getSpec().getNodeName() == null ? null : nodes.get(pod.getSpec().getNodeName());
            if (node == null || !Boolean.TRUE.equals(pod.getSpec().getHostNetwork()) || isProcessIdentity(pod)
                    || pod.getMetadata().getDeletionTimestamp() != null) {
                continue;
            }
            for (Container c : pod.getSpec().getContainers()) {
                wanted.add(containerName(cluster, pod.getMetadata().getName(), c.getName()));
            }
            try {
                runPod(pod, node, configMaps);
            } catch (RuntimeException | IOException e) {
                LOG.warning("pod " + pod.getMetadata().getName() + " on " + node.name() + ": " + e.getMessage());
                backoffUntil.put(pod.getMetadata().getUid(), System.currentTimeMillis() + 5000);
            }
        }
        // Containers of pods that are gone (deleted, or replaced).
        for (String name : ours()) {
            if (!wanted.contains(name) && !name.endsWith("-init")) {
                LOG.info("removing " + name + " (its pod is gone)");
                podman.podman(List.of("rm", "--force", "--time", "10", name), 60);
                probes.remove(name);
            }
        }
    }

    /** SystemIdentities' stand-in pods for processes (the CLI's identity) are not containers. */
    private static boolean isProcessIdentity(Pod pod) {
        return pod.getSpec().getContainers().stream().anyMatch(c -> "localcluster/process".equals(c.getImage()));
    }

    private List<String> ours() throws IOException, InterruptedException {
        Podman.Result r = podman.podman(List.of("ps", "-a", "--filter", "label=" + LABEL + "=" + cluster.id(),
                "--format", "{{.Names}}"), 30);
        return r.out().lines().map(String::strip).filter(s -> !s.isEmpty()).toList();
    }

    /**
     * The DaemonSet controller: a pod per node, from the template, bound to it. A changed template (a new bundle
     * applied, {@code kubectl rollout restart}) is rolled out as RollingUpdate with maxUnavailable 1 does it: one
     * outdated pod is deleted when every pod of the DaemonSet is Ready, and recreated from the new template.
     */
    private void daemonSets() {
        for (DaemonSet ds : client.apps().daemonSets().inNamespace(NAMESPACE).list().getItems()) {
            var template = ds.getSpec().getTemplate();
            String revision = ClusterController.templateHash(template);
            List<Pod> pods = new ArrayList<>();
            for (NodeState node : cluster.nodes()) {
                String name = ds.getMetadata().getName() + "-" + node.name();
                Pod existing = client.pods().inNamespace(NAMESPACE).withName(name).get();
                if (existing != null) {
                    pods.add(existing);
                    continue;
                }
                Map<String, String> labels = new HashMap<>(template.getMetadata().getLabels());
                labels.put(REVISION_LABEL, revision);
                Pod pod = new PodBuilder().withNewMetadata().withName(name).withNamespace(NAMESPACE)
                        .withLabels(labels)
                        .withAnnotations(template.getMetadata().getAnnotations())
                        .withOwnerReferences(new OwnerReferenceBuilder().withApiVersion("apps/v1").withKind("DaemonSet")
                                .withName(ds.getMetadata().getName()).withUid(ds.getMetadata().getUid()).withController(true).build())
                        .endMetadata().withSpec(template.getSpec()).build();
                pod.getSpec().setNodeName(node.name());
                try {
                    client.pods().inNamespace(NAMESPACE).resource(pod).create();
                    LOG.info("DaemonSet " + ds.getMetadata().getName() + ": created " + name);
                } catch (KubernetesClientException e) {
                    LOG.fine("create " + name + ": " + e.getMessage());
                }
            }
            ClusterController.nextToReplace(pods, cluster.nodes().size(), REVISION_LABEL, revision).ifPresent(outdated -> {
                LOG.info("DaemonSet " + ds.getMetadata().getName() + ": rolling update, replacing " + outdated.getMetadata().getName()
                        + " (template " + ClusterController.labelOf(outdated, REVISION_LABEL) + " -> " + revision + ")");
                client.pods().inNamespace(NAMESPACE).resource(outdated).delete();
            });
        }
    }

    private void runPod(Pod pod, NodeState node, Map<String, ConfigMap> configMaps) throws IOException, InterruptedException {
        String uid = pod.getMetadata().getUid();
        if (System.currentTimeMillis() < backoffUntil.getOrDefault(uid, 0L)) {
            return;
        }
        Map<String, Path> volumes = volumes(pod, node);
        Map<String, String> fieldRefs = Map.of("spec.nodeName", node.name(), "metadata.name", pod.getMetadata().getName(),
                "metadata.namespace", NAMESPACE, "status.podIP", node.ip(), "status.hostIP", node.ip(),
                "spec.serviceAccountName", String.valueOf(pod.getSpec().getServiceAccountName()));
        Map<String, String> env = new LinkedHashMap<>();
        env.put("KUBERNETES_MASTER", cluster.apiNodeUrl());
        env.put("KUBERNETES_AUTH_TRYKUBECONFIG", "false");
        env.put("KUBERNETES_AUTH_TRYSERVICEACCOUNT", "false");
        env.put("KUBERNETES_NAMESPACE", NAMESPACE);
        String network = "--network=ns:/run/netns/" + node.netns();
        if (!initialized.containsKey(uid)) {
            for (Container c : pod.getSpec().getInitContainers()) {
                List<String> args = new ArrayList<>(List.of("--name", containerName(cluster, pod.getMetadata().getName(), c.getName()) + "-init",
                        network, "--label=" + LABEL + "=" + cluster.id()));
                args.addAll(new BundleContainer(pod.getSpec(), c, configMaps).podmanArgs(fieldRefs, env, volumes));
                Podman.Result r = podman.runToCompletion(args, 300);
                if (r.exit() != 0) {
                    throw new IllegalStateException("init container " + c.getName() + " exited " + r.exit() + ": " + r.err() + r.out());
                }
                LOG.info(pod.getMetadata().getName() + ": init container " + c.getName() + " completed");
            }
            initialized.put(uid, true);
        }
        List<ContainerStatus> statuses = new ArrayList<>();
        boolean allReady = true;
        for (Container c : pod.getSpec().getContainers()) {
            String name = containerName(cluster, pod.getMetadata().getName(), c.getName());
            var state = inspect(name);
            if (state.isPresent() && !uid.equals(state.get().podUid())) {
                // A container of an earlier pod of this name (a DaemonSet's pod replaced by a rolling update).
                LOG.info(pod.getMetadata().getName() + ": container " + c.getName() + " is an earlier pod's, replacing it");
                podman.podman(List.of("rm", "--force", "--time", String.valueOf(grace(pod)), name), (int) grace(pod) + 60);
                probes.remove(name);
                crashBackoff.remove(name);
                state = inspect(name);
            }
            ProbeState probe = probes.computeIfAbsent(name, k -> new ProbeState());
            if (state.isEmpty()) {
                List<String> args = new ArrayList<>(List.of(network, "--label=" + LABEL + "=" + cluster.id(),
                        "--label=dev.weft.pod=" + pod.getMetadata().getName(), "--label=" + POD_UID_LABEL + "=" + uid,
                        "--label=dev.weft.node=" + node.name()));
                args.addAll(new BundleContainer(pod.getSpec(), c, configMaps).podmanArgs(fieldRefs, env, volumes));
                podman.runDetached(name, args);
                LOG.info(pod.getMetadata().getName() + ": started container " + c.getName() + " on " + node.name());
                probes.put(name, new ProbeState());
                allReady = false;
                continue;
            }
            ContainerState s = state.get();
            if (!s.running()) {
                // restartPolicy Always (the bundle's pods): start it again, podman counts the restarts; an exit within
                // the back-off since the last restart waits it out (CrashLoopBackOff).
                long now = System.currentTimeMillis();
                CrashBackoff backoff = crashBackoff.get(name);
                allReady = false;
                if (backoff != null && backoff.waiting(now)) {
                    statuses.add(new ContainerStatusBuilder().withName(c.getName()).withImage(c.getImage())
                            .withContainerID("podman://" + s.id()).withReady(false).withStarted(false)
                            .withRestartCount(s.restarts()).withNewState().withNewWaiting()
                            .withReason("CrashLoopBackOff").withMessage("back-off " + backoff.delayMs() / 1000
                                    + "s restarting failed container " + c.getName()).endWaiting().endState().build());
                    continue;
                }
                LOG.info(pod.getMetadata().getName() + ": container " + c.getName() + " is " + s.status() + ", restarting it\n"
                        + podman.logs(name));
                podman.podman(List.of("start", name), 60);
                crashBackoff.put(name, CrashBackoff.next(backoff, now));
                probes.put(name, new ProbeState());
                continue;
            }
            String startedAt = s.startedAt();
            if (probe.startedAt == null) {
                probe.startedAt = startedAt;
            } else if (!probe.startedAt.equals(startedAt)) {
                // Restarted (restart-agent, podman restart): probed from the start again.
                probe = new ProbeState();
                probe.startedAt = startedAt;
                probes.put(name, probe);
            }
            probe(pod, node, c, name, probe);
            allReady &= probe.ready;
            statuses.add(new ContainerStatusBuilder().withName(c.getName()).withImage(c.getImage())
                    .withContainerID("podman://" + s.id()).withReady(probe.ready).withStarted(probe.started)
                    .withRestartCount(s.restarts()).withNewState().withNewRunning().withStartedAt(s.startedAt().isEmpty() ? null : s.startedAt())
                    .endRunning().endState().build());
        }
        writeStatus(pod, node, statuses, allReady && statuses.size() == pod.getSpec().getContainers().size());
    }

    // ------------------------------------------------------------------ probes

    private void probe(Pod pod, NodeState node, Container c, String name, ProbeState st) throws IOException, InterruptedException {
        long now = System.currentTimeMillis();
        if (!st.started) {
            Probe startup = c.getStartupProbe();
            if (startup == null) {
                st.started = true;
            } else if (st.due(startup, now)) {
                ProbeOutcome outcome = run(startup, node, name);
                if (outcome.ok()) {
                    st.started = true;
                } else if (st.startupFailed(startup)) {
                    restart(pod, c, name, "failed its startup probe " + st.startupFailures + " times (" + outcome.seen() + ")");
                    return;
                } else if (!outcome.seen().equals(st.lastFailure)) {
                    LOG.info(pod.getMetadata().getName() + ": startup probe of " + c.getName() + " failed: " + outcome.seen());
                    st.lastFailure = outcome.seen();
                }
            }
            if (!st.started) {
                return;
            }
        }
        Probe readiness = c.getReadinessProbe();
        if (readiness == null) {
            st.ready = true;
        } else if (!st.delayOver(readiness, now)) {
            st.ready = false;
        } else if (!st.ready || periodDue(readiness, st.lastProbe, now)) {
            ProbeOutcome outcome = run(readiness, node, name);
            st.ready = outcome.ok();
            st.lastProbe = now;
            String failure = st.ready ? null : outcome.seen();
            if (failure != null && !failure.equals(st.lastFailure)) {
                LOG.info(pod.getMetadata().getName() + ": readiness probe of " + c.getName() + " failed: " + failure);
            }
            st.lastFailure = failure;
        }
        Probe liveness = c.getLivenessProbe();
        if (liveness != null && st.delayOver(liveness, now) && periodDue(liveness, st.lastLiveness, now)) {
            st.lastLiveness = now;
            if (run(liveness, node, name).ok()) {
                st.livenessFailures = 0;
            } else if (++st.livenessFailures >= (liveness.getFailureThreshold() == null ? 3 : liveness.getFailureThreshold())) {
                restart(pod, c, name, "failed its liveness probe " + st.livenessFailures + " times");
            }
        }
    }

    /** As the kubelet kills and restarts a container its probes gave up on: SIGTERM, the pod's grace period, start. */
    private void restart(Pod pod, Container c, String name, String why) throws IOException, InterruptedException {
        LOG.info(pod.getMetadata().getName() + ": container " + c.getName() + " " + why + ", restarting it");
        podman.podman(List.of("restart", "--time", String.valueOf(grace(pod)), name), (int) grace(pod) + 60);
        probes.put(name, new ProbeState());
    }

    private static long grace(Pod pod) {
        Long g = pod.getSpec().getTerminationGracePeriodSeconds();
        return g == null ? 30 : g;
    }

    private static boolean periodDue(Probe p, long last, long now) {
        int period = p.getPeriodSeconds() == null ? 10 : p.getPeriodSeconds();
        return now - last >= period * 1000L;
    }

    private ProbeOutcome run(Probe p, NodeState node, String container) throws IOException, InterruptedException {
        int timeout = p.getTimeoutSeconds() == null ? 1 : Math.max(1, p.getTimeoutSeconds());
        if (p.getExec() != null) {
            List<String> cmd = new ArrayList<>(List.of("exec", container));
            cmd.addAll(p.getExec().getCommand());
            Podman.Result r = podman.podman(cmd, timeout + 30);
            return new ProbeOutcome(r.exit() == 0,
                    String.join(" ", p.getExec().getCommand()) + " exited " + r.exit() + " " + (r.err() + r.out()).strip());
        }
        if (p.getHttpGet() != null) {
            var get = p.getHttpGet();
            String host = get.getHost() == null || get.getHost().isBlank() ? node.ip() : get.getHost();
            String scheme = get.getScheme() == null ? "http" : get.getScheme().toLowerCase();
            String url = scheme + "://" + host + ":" + get.getPort().getIntVal() + (get.getPath() == null ? "/" : get.getPath());
            // As the kubelet: from the pod's network (the node's), HTTPS without verifying the certificate.
            Podman.Result r = Podman.exec(List.of("ip", "netns", "exec", node.netns(), "curl", "-sk", "-o", "/dev/null",
                    "-w", "%{http_code}", "--max-time", String.valueOf(Math.max(2, timeout)), url), timeout + 30);
            String code = r.out().strip();
            return new ProbeOutcome(code.matches("\\d{3}") && Integer.parseInt(code) >= 200 && Integer.parseInt(code) < 400,
                    url + " answered " + (code.isEmpty() ? "nothing" : code) + " (curl exit " + r.exit() + ")");
        }
        if (p.getTcpSocket() != null) {
            Podman.Result r = Podman.exec(List.of("ip", "netns", "exec", node.netns(), "bash", "-c",
                    "exec 3<>/dev/tcp/" + node.ip() + "/" + p.getTcpSocket().getPort().getIntVal()), timeout + 30);
            return new ProbeOutcome(r.exit() == 0, "tcp " + node.ip() + ":" + p.getTcpSocket().getPort().getIntVal() + " " + r.err().strip());
        }
        return new ProbeOutcome(true, "no handler");
    }

    // ------------------------------------------------------------------ volumes, tokens, status

    /** hostPath volumes at the node's directory, projected tokens written for this pod; by volume name. */
    private Map<String, Path> volumes(Pod pod, NodeState node) throws IOException {
        Map<String, Path> out = new HashMap<>();
        Path root = Topology.nodeRoot(layout, node.name());
        for (Volume v : pod.getSpec().getVolumes()) {
            if (v.getHostPath() != null && !"CharDevice".equals(v.getHostPath().getType())) {
                String path = v.getHostPath().getPath();
                if (path.equals("/var/run/netns") || path.equals("/run/netns")) {
                    // The pods' network namespaces the local kubelet creates are the machine's.
                    out.put(v.getName(), Path.of("/run/netns"));
                } else {
                    Path dir = root.resolve(path.replaceFirst("^/+", ""));
                    Files.createDirectories(dir);
                    out.put(v.getName(), dir);
                }
            }
        }
        BundleContainer any = new BundleContainer(pod.getSpec(), pod.getSpec().getContainers().getFirst(), Map.of());
        for (var projected : any.projectedTokenPaths().entrySet()) {
            Path dir = layout.node(node.name()).resolve("pods").resolve(pod.getMetadata().getName()).resolve(projected.getKey());
            for (var file : projected.getValue().entrySet()) {
                writeToken(pod, dir.resolve(file.getKey()), file.getValue());
            }
            out.put(projected.getKey(), dir);
        }
        return out;
    }

    /** A ServiceAccount token bound to the pod, for the audience; renewed at 80% of its lifetime. */
    private void writeToken(Pod pod, Path file, String audience) throws IOException {
        if (Files.exists(file) && Files.getLastModifiedTime(file).toInstant().isAfter(Instant.now().minus(SystemIdentities.RENEW_AFTER))) {
            return;
        }
        String token = client.serviceAccounts().inNamespace(NAMESPACE).withName(pod.getSpec().getServiceAccountName()).tokenRequest(
                new TokenRequestBuilder().withNewSpec().withAudiences(audience == null ? ServiceAccountTokens.API_AUDIENCE : audience)
                        .withExpirationSeconds(SystemIdentities.EXPIRATION_SECONDS)
                        .withNewBoundObjectRef().withApiVersion("v1").withKind("Pod").withName(pod.getMetadata().getName())
                        .withUid(pod.getMetadata().getUid()).endBoundObjectRef().endSpec().build()).getStatus().getToken();
        Files.createDirectories(file.getParent());
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        // Readable by the pod's user (the control-plane pods run as 65532): the directory is the pod's alone.
        Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-r--r--")));
        Files.writeString(tmp, token);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private void writeStatus(Pod pod, NodeState node, List<ContainerStatus> statuses, boolean ready) {
        var have = pod.getStatus();
        boolean same = have != null && node.ip().equals(have.getPodIP()) && "Running".equals(have.getPhase())
                && have.getConditions().stream().anyMatch(c -> c.getType().equals("Ready") && c.getStatus().equals(ready ? "True" : "False"))
                && have.getContainerStatuses().size() == statuses.size()
                && have.getContainerStatuses().stream().allMatch(h -> statuses.stream().anyMatch(s -> s.getName().equals(h.getName())
                        && s.getContainerID().equals(h.getContainerID()) && s.getReady().equals(h.getReady())
                        && s.getRestartCount().equals(h.getRestartCount())));
        if (same) {
            return;
        }
        String now = Instant.now().toString();
        List<PodCondition> conditions = new ArrayList<>();
        for (String type : List.of("Initialized", "PodScheduled")) {
            conditions.add(new PodConditionBuilder().withType(type).withStatus("True").withLastTransitionTime(now).build());
        }
        for (String type : List.of("Ready", "ContainersReady")) {
            conditions.add(new PodConditionBuilder().withType(type).withStatus(ready ? "True" : "False").withLastTransitionTime(now).build());
        }
        try {
            client.pods().inNamespace(NAMESPACE).withName(pod.getMetadata().getName()).editStatus(p -> {
                p.setStatus(new io.fabric8.kubernetes.api.model.PodStatusBuilder().withPhase("Running").withPodIP(node.ip())
                        .addNewPodIP().withIp(node.ip()).endPodIP().withHostIP(node.ip()).withStartTime(now)
                        .withConditions(conditions).withContainerStatuses(statuses).build());
                return p;
            });
            LOG.info(pod.getMetadata().getName() + " on " + node.name() + ": Running, ready=" + ready);
        } catch (KubernetesClientException e) {
            LOG.warning("status of " + pod.getMetadata().getName() + " not written: " + e.getMessage());
        }
    }

    static UncheckedIOException unchecked(IOException e) {
        return new UncheckedIOException(e);
    }
}
