package dev.weft.localcluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weft.localcluster.ClusterState.NodeState;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.PodIP;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Collectors;


/**
 * The cluster-controller process of the local cluster: a tiny scheduler (unbound pods round-robin over the nodes), a
 * Deployment controller (replicas as pods owned by the Deployment; no ReplicaSet level) and one minimal kubelet per node
 * that runs the real CNI plugin through the CNI protocol with the conflist the agent installed, sets the pod IP and
 * phase, and starts a {@link PodResponder} inside the pod's netns for the declared container ports. Images and
 * commands are recorded, not run.
 * <p>Level-triggered: informer events only wake the reconcile loop; every pass compares the API with what runs.
 */
public final class ClusterController {
    private static final Logger LOG = Logger.getLogger(ClusterController.class.getName());
    static final String POD_TEMPLATE_HASH = "pod-template-hash";

    private final Layout layout;
    private final ClusterState cluster;
    private final KubernetesClient client;
    private final Map<String, PodRecord> running = new ConcurrentHashMap<>();
    private final Set<String> inFlight = ConcurrentHashMap.newKeySet();
    private final Map<String, Long> retryAfter = new ConcurrentHashMap<>();
    private final ExecutorService workers = Executors.newFixedThreadPool(4);
    private final AtomicInteger roundRobin = new AtomicInteger();
    private final Thread loopThread = Thread.currentThread();
    private SharedIndexInformer<Pod> pods;
    private SharedIndexInformer<Deployment> deployments;
    private SharedIndexInformer<io.fabric8.kubernetes.api.model.Service> services;
    private SharedIndexInformer<io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice> slices;

    private ClusterController(Layout layout, ClusterState cluster) {
        this.layout = layout;
        this.cluster = cluster;
        this.client = Kube.client(cluster.apiUrl());
    }

    public static void main(String[] args) throws Exception {
        java.util.logging.Logger.getLogger("io.fabric8").setLevel(Level.WARNING);
        Path home = null;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--home")) {
                home = Path.of(args[++i]);
            } else {
                throw new IllegalArgumentException("usage: ClusterController --home DIR");
            }
        }
        Layout layout = new Layout(Objects.requireNonNull(home, "--home"), Path.of(System.getProperty("weft.repo", ".")));
        ClusterState cluster = layout.requireCluster();
        new ClusterController(layout, cluster).run();
    }

    private void run() throws IOException {
        Files.createDirectories(layout.pods());
        loadRecords();
        ResourceEventHandler<Object> wake = new ResourceEventHandler<>() {
            public void onAdd(Object obj) { LockSupport.unpark(loopThread); }
            public void onUpdate(Object o, Object n) { LockSupport.unpark(loopThread); }
            public void onDelete(Object obj, boolean unknown) { LockSupport.unpark(loopThread); }
        };
        @SuppressWarnings({"unchecked", "rawtypes"})
        ResourceEventHandler<Pod> podWake = (ResourceEventHandler) wake;
        @SuppressWarnings({"unchecked", "rawtypes"})
        ResourceEventHandler<Deployment> deploymentWake = (ResourceEventHandler) wake;
        pods = client.pods().inAnyNamespace().inform(podWake, 0);
        deployments = client.apps().deployments().inAnyNamespace().inform(deploymentWake, 0);
        @SuppressWarnings({"unchecked", "rawtypes"})
        ResourceEventHandler<io.fabric8.kubernetes.api.model.Service> serviceWake = (ResourceEventHandler) wake;
        @SuppressWarnings({"unchecked", "rawtypes"})
        ResourceEventHandler<io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice> sliceWake = (ResourceEventHandler) wake;
        services = client.services().inAnyNamespace().inform(serviceWake, 0);
        slices = client.discovery().v1().endpointSlices().inAnyNamespace().inform(sliceWake, 0);
        Files.writeString(layout.home().resolve("cluster-controller.ready"), Instant.now().toString());
        LOG.info("cluster-controller ready: " + cluster.nodes().size() + " nodes, " + running.size() + " pods recovered");
        while (true) {
            try {
                reconcile();
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "reconcile failed (retrying)", e);
            }
            LockSupport.parkNanos(500_000_000L);
        }
    }

    private void loadRecords() throws IOException {
        try (var s = Files.list(layout.pods())) {
            for (Path f : s.filter(p -> p.toString().endsWith(".json")).toList()) {
                try {
                    PodRecord r = Layout.JSON.readValue(f.toFile(), PodRecord.class);
                    running.put(r.key(), r);
                } catch (IOException e) {
                    LOG.warning("ignoring unreadable pod record " + f + ": " + e.getMessage());
                }
            }
        }
    }

    private void reconcile() {
        List<Pod> allPods = pods.getStore().list();
        reconcileDeployments(allPods);
        schedule(allPods);
        reconcileKubelets(allPods);
        renewTokens();
        reconcileEndpointSlices(allPods);
        writeHostsFiles();
    }

    private long tokensCheckedAt;

    /** The kubelet's part for the local cluster's CLI identity: its token file renewed before it expires. */
    private void renewTokens() {
        if (System.nanoTime() - tokensCheckedAt < 30_000_000_000L) {
            return;
        }
        tokensCheckedAt = System.nanoTime();
        try {
            SystemIdentities.renew(client, layout, cluster);
        } catch (RuntimeException e) {
            LOG.warning("renewing the processes' tokens failed (retrying): " + e.getMessage());
            tokensCheckedAt = 0;
        }
    }

    // ---------------------------------------------------------------- EndpointSlice controller

    /**
     * The slices every Service with a selector should have ({@link EndpointSlices#desired}) against the slices this
     * controller manages: created, replaced when different, deleted when their Service is gone or no longer wants them.
     * Slices managed by anyone else (the kubernetes Service's, a user's) are left alone.
     */
    private void reconcileEndpointSlices(List<Pod> allPods) {
        Map<String, List<Pod>> podsByNamespace = new HashMap<>();
        for (Pod p : allPods) {
            podsByNamespace.computeIfAbsent(p.getMetadata().getNamespace(), k -> new ArrayList<>()).add(p);
        }
        Map<String, io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice> desired = new LinkedHashMap<>();
        for (var svc : services.getStore().list()) {
            for (var slice : EndpointSlices.desired(svc, podsByNamespace.getOrDefault(svc.getMetadata().getNamespace(), List.of()))) {
                desired.put(slice.getMetadata().getNamespace() + "/" + slice.getMetadata().getName(), slice);
            }
        }
        Map<String, io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice> stored = new HashMap<>();
        for (var slice : slices.getStore().list()) {
            var labels = slice.getMetadata().getLabels();
            if (labels != null && EndpointSlices.MANAGED_BY.equals(labels.get(EndpointSlices.MANAGED_BY_LABEL))) {
                stored.put(slice.getMetadata().getNamespace() + "/" + slice.getMetadata().getName(), slice);
            }
        }
        for (var e : desired.entrySet()) {
            var want = e.getValue();
            var have = stored.get(e.getKey());
            try {
                var api = client.discovery().v1().endpointSlices().inNamespace(want.getMetadata().getNamespace());
                if (have == null) {
                    api.resource(want).create();
                    LOG.info("endpointslice " + e.getKey() + " created: " + describe(want));
                } else if (!EndpointSlices.same(have, want)) {
                    api.withName(want.getMetadata().getName()).edit(x -> {
                        x.getMetadata().setLabels(want.getMetadata().getLabels());
                        x.getMetadata().setOwnerReferences(want.getMetadata().getOwnerReferences());
                        x.setAddressType(want.getAddressType());
                        x.setPorts(want.getPorts());
                        x.setEndpoints(want.getEndpoints());
                        return x;
                    });
                    LOG.info("endpointslice " + e.getKey() + " updated: " + describe(want));
                }
            } catch (KubernetesClientException ex) {
                LOG.fine("endpointslice " + e.getKey() + ": " + ex.getMessage()); // the next pass retries
            }
        }
        for (var e : stored.entrySet()) {
            if (!desired.containsKey(e.getKey())) {
                try {
                    client.discovery().v1().endpointSlices().inNamespace(e.getValue().getMetadata().getNamespace())
                            .withName(e.getValue().getMetadata().getName()).delete();
                    LOG.info("endpointslice " + e.getKey() + " deleted");
                } catch (KubernetesClientException ex) {
                    LOG.fine("endpointslice " + e.getKey() + ": " + ex.getMessage());
                }
            }
        }
    }

    private static String describe(io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice s) {
        return s.getEndpoints().stream().map(x -> x.getAddresses().getFirst() + (Boolean.TRUE.equals(x.getConditions().getReady()) ? "" : "(not ready)"))
                .collect(Collectors.joining(",", "[", "]"))
                + " ports " + s.getPorts().stream().map(p -> p.getName() + ":" + p.getPort() + "/" + p.getProtocol()).collect(Collectors.joining(","));
    }

    /** Every running pod's hosts file (see {@link PodHosts}) with the Services as they are now. */
    private void writeHostsFiles() {
        List<io.fabric8.kubernetes.api.model.Service> all = services.getStore().list();
        for (PodRecord r : List.copyOf(running.values())) {
            if (Files.exists(Path.of("/var/run/netns", r.netns()))) {
                try {
                    PodHosts.write(r.netns(), PodHosts.render(r.namespace(), r.name(), r.ip(), all));
                } catch (UncheckedIOException e) {
                    LOG.warning(e.getMessage());
                }
            }
        }
    }

    // ---------------------------------------------------------------- Deployment controller

    private void reconcileDeployments(List<Pod> allPods) {
        Map<String, Deployment> byUid = new HashMap<>();
        for (Deployment d : deployments.getStore().list()) {
            byUid.put(d.getMetadata().getUid(), d);
        }
        Map<String, List<Pod>> owned = new HashMap<>();
        for (Pod p : allPods) {
            ownerDeploymentUid(p).ifPresent(uid -> {
                if (byUid.containsKey(uid)) {
                    owned.computeIfAbsent(uid, k -> new ArrayList<>()).add(p);
                } else if (p.getMetadata().getDeletionTimestamp() == null) {
                    // Garbage collection: the owner is gone.
                    deletePod(p);
                }
            });
        }
        for (Deployment d : byUid.values()) {
            int desired = d.getSpec().getReplicas() == null ? 1 : d.getSpec().getReplicas();
            List<Pod> mine = new ArrayList<>(owned.getOrDefault(d.getMetadata().getUid(), List.of()));
            mine.sort(Comparator.comparing((Pod p) -> p.getMetadata().getCreationTimestamp(), Comparator.nullsLast(Comparator.naturalOrder()))
                    .thenComparing(p -> p.getMetadata().getName()));
            for (int i = mine.size(); i < desired; i++) {
                createReplica(d);
            }
            for (int i = mine.size() - 1; i >= desired; i--) {
                deletePod(mine.get(i));
            }
            // A changed template: the oldest outdated replica goes; the missing one is then created from the new template.
            String hash = templateHash(d.getSpec().getTemplate());
            nextToReplace(mine, desired, POD_TEMPLATE_HASH, hash).ifPresent(old -> {
                LOG.info("deployment " + d.getMetadata().getNamespace() + "/" + d.getMetadata().getName() + ": rolling update, replacing "
                        + old.getMetadata().getName() + " (template " + labelOf(old, POD_TEMPLATE_HASH) + " -> " + hash + ")");
                deletePod(old);
            });
            int updated = (int) mine.stream().limit(desired).filter(p -> hash.equals(labelOf(p, POD_TEMPLATE_HASH))).count();
            long ready = mine.stream().limit(desired).filter(p -> "Running".equals(phase(p))).count();
            var status = d.getStatus();
            boolean changed = status == null || !Objects.equals(status.getReplicas(), Math.min(mine.size(), desired))
                    || !Objects.equals(status.getReadyReplicas(), (int) ready)
                    || !Objects.equals(status.getUpdatedReplicas(), updated)
                    || !Objects.equals(status.getObservedGeneration(), d.getMetadata().getGeneration());
            if (changed) {
                try {
                    client.apps().deployments().inNamespace(d.getMetadata().getNamespace()).withName(d.getMetadata().getName())
                            .editStatus(x -> {
                                x.setStatus(new io.fabric8.kubernetes.api.model.apps.DeploymentStatusBuilder()
                                        .withReplicas(Math.min(mine.size(), desired)).withReadyReplicas((int) ready)
                                        .withAvailableReplicas((int) ready).withUpdatedReplicas(updated)
                                        .withObservedGeneration(d.getMetadata().getGeneration()).build());
                                return x;
                            });
                } catch (KubernetesClientException e) {
                    LOG.fine("deployment status: " + e.getMessage());
                }
            }
        }
    }

    /**
     * The local controllers' rolling update (maxUnavailable 1, maxSurge 0: the bundle's strategy, which host ports
     * shared under anti-affinity need): when all {@code expected} pods exist and are Ready, the first of them whose
     * template label is not {@code current}; one at a time, the next only once its replacement is Ready.
     */
    static Optional<Pod> nextToReplace(List<Pod> pods, int expected, String templateLabel, String current) {
        if (pods.size() != expected || !pods.stream().allMatch(BundleDeployment::ready)) {
            return Optional.empty();
        }
        return pods.stream().filter(p -> !current.equals(labelOf(p, templateLabel))).findFirst();
    }

    static String labelOf(Pod p, String label) {
        return p.getMetadata().getLabels() == null ? null : p.getMetadata().getLabels().get(label);
    }

    private static Optional<String> ownerDeploymentUid(Pod p) {
        if (p.getMetadata().getOwnerReferences() == null) {
            return Optional.empty();
        }
        return p.getMetadata().getOwnerReferences().stream().filter(o -> "Deployment".equals(o.getKind()))
                .map(io.fabric8.kubernetes.api.model.OwnerReference::getUid).findFirst();
    }

    private void createReplica(Deployment d) {
        var template = d.getSpec().getTemplate();
        String hash = templateHash(template);
        String name = d.getMetadata().getName() + "-" + hash + "-" + randomSuffix();
        Map<String, String> labels = new LinkedHashMap<>();
        if (template.getMetadata() != null && template.getMetadata().getLabels() != null) {
            labels.putAll(template.getMetadata().getLabels());
        }
        labels.put(POD_TEMPLATE_HASH, hash);
        Pod pod = new PodBuilder()
                .withNewMetadata().withName(name).withNamespace(d.getMetadata().getNamespace()).withLabels(labels)
                .withAnnotations(template.getMetadata() == null ? null : template.getMetadata().getAnnotations())
                .withOwnerReferences(new OwnerReferenceBuilder().withApiVersion("apps/v1").withKind("Deployment")
                        .withName(d.getMetadata().getName()).withUid(d.getMetadata().getUid()).withController(true)
                        .withBlockOwnerDeletion(true).build())
                .endMetadata()
                .withSpec(template.getSpec())
                .withStatus(new PodStatusBuilder().withPhase("Pending").build())
                .build();
        try {
            client.pods().inNamespace(d.getMetadata().getNamespace()).resource(pod).create();
            LOG.info("deployment " + d.getMetadata().getNamespace() + "/" + d.getMetadata().getName() + ": created pod " + name);
        } catch (KubernetesClientException e) {
            LOG.warning("cannot create a replica of " + d.getMetadata().getName() + ": " + e.getMessage());
        }
    }

    static String templateHash(io.fabric8.kubernetes.api.model.PodTemplateSpec template) {
        try {
            byte[] digest = java.security.MessageDigest.getInstance("SHA-256")
                    .digest(Layout.JSON.writeValueAsBytes(template));
            String alphabet = "bcdfghjklmnpqrstvwxz2456789"; // the alphabet Kubernetes uses for name suffixes
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < 10; i++) {
                sb.append(alphabet.charAt((digest[i] & 0xff) % alphabet.length()));
            }
            return sb.toString();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static String randomSuffix() {
        String alphabet = "bcdfghjklmnpqrstvwxz2456789";
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 5; i++) {
            sb.append(alphabet.charAt(ThreadLocalRandom.current().nextInt(alphabet.length())));
        }
        return sb.toString();
    }

    private void deletePod(Pod p) {
        try {
            client.pods().inNamespace(p.getMetadata().getNamespace()).withName(p.getMetadata().getName()).delete();
        } catch (KubernetesClientException e) {
            LOG.fine("delete " + p.getMetadata().getName() + ": " + e.getMessage());
        }
    }

    // ---------------------------------------------------------------- scheduler

    private void schedule(List<Pod> allPods) {
        List<String> nodes = cluster.nodes().stream().map(NodeState::name).sorted().toList();
        // The pods as bound so far, this pass's bindings included (copies: the informer's objects stay as they are).
        List<Pod> bound = new ArrayList<>(allPods);
        for (Pod p : allPods) {
            String nodeName = p.getSpec() == null ? null : p.getSpec().getNodeName();
            if ((nodeName == null || nodeName.isBlank()) && p.getMetadata().getDeletionTimestamp() == null) {
                // Round robin over the nodes the pod's required anti-affinity allows (the bundle's hostNetwork
                // replicas share a host port: never two on one node).
                List<String> allowed = nodes.stream().filter(n -> antiAffinityAllows(p, n, bound)).toList();
                if (allowed.isEmpty()) {
                    continue;
                }
                String target = allowed.get(Math.floorMod(roundRobin.getAndIncrement(), allowed.size()));
                try {
                    client.pods().inNamespace(p.getMetadata().getNamespace()).withName(p.getMetadata().getName())
                            .edit(x -> {
                                x.getSpec().setNodeName(target);
                                return x;
                            });
                    LOG.info("scheduled " + p.getMetadata().getNamespace() + "/" + p.getMetadata().getName() + " on " + target);
                    Pod copy = new io.fabric8.kubernetes.api.model.PodBuilder(p).editSpec().withNodeName(target).endSpec().build();
                    bound.set(bound.indexOf(p), copy);
                } catch (KubernetesClientException e) {
                    LOG.fine("bind " + p.getMetadata().getName() + ": " + e.getMessage());
                }
            }
        }
    }

    /**
     * Required pod anti-affinity by {@code kubernetes.io/hostname} with matchLabels (what the bundle uses): no pod on the
     * node, of the pod's namespace, matches the selector. Other terms are not honoured (allowed).
     */
    static boolean antiAffinityAllows(Pod pod, String node, List<Pod> allPods) {
        var affinity = pod.getSpec().getAffinity();
        if (affinity == null || affinity.getPodAntiAffinity() == null) {
            return true;
        }
        for (var term : affinity.getPodAntiAffinity().getRequiredDuringSchedulingIgnoredDuringExecution()) {
            if (!"kubernetes.io/hostname".equals(term.getTopologyKey()) || term.getLabelSelector() == null
                    || term.getLabelSelector().getMatchLabels() == null) {
                continue;
            }
            Map<String, String> match = term.getLabelSelector().getMatchLabels();
            for (Pod other : allPods) {
                Map<String, String> labels = other.getMetadata().getLabels();
                if (!other.getMetadata().getName().equals(pod.getMetadata().getName()) && node.equals(other.getSpec() == null ? null : other.getSpec().getNodeName())
                        && pod.getMetadata().getNamespace().equals(other.getMetadata().getNamespace())
                        && other.getMetadata().getDeletionTimestamp() == null
                        && labels != null && labels.entrySet().containsAll(match.entrySet())) {
                    return false;
                }
            }
        }
        return true;
    }

    // ---------------------------------------------------------------- kubelets

    private void reconcileKubelets(List<Pod> allPods) {
        Map<String, Pod> wanted = new HashMap<>();
        Set<String> nodeNames = cluster.nodes().stream().map(NodeState::name).collect(Collectors.toSet());
        for (Pod p : allPods) {
            String node = p.getSpec() == null ? null : p.getSpec().getNodeName();
            // hostNetwork pods are the system pods (PodmanKubelet runs them) and the CLI identity (SystemIdentities).
            boolean process = p.getSpec() != null && Boolean.TRUE.equals(p.getSpec().getHostNetwork());
            if (node != null && nodeNames.contains(node) && !process && p.getMetadata().getDeletionTimestamp() == null) {
                wanted.put(p.getMetadata().getNamespace() + "/" + p.getMetadata().getName(), p);
            }
        }
        // Stop what runs but is no longer wanted (deleted, or replaced by a pod of the same name with another uid).
        for (PodRecord r : List.copyOf(running.values())) {
            Pod p = wanted.get(r.key());
            if (p == null || !p.getMetadata().getUid().equals(r.uid()) || !p.getSpec().getNodeName().equals(r.node())) {
                submit(r.key(), () -> stopPod(r));
            }
        }
        for (var e : wanted.entrySet()) {
            Pod p = e.getValue();
            PodRecord r = running.get(e.getKey());
            if (r == null) {
                Long notBefore = retryAfter.get(e.getKey());
                if (notBefore == null || System.currentTimeMillis() >= notBefore) {
                    submit(e.getKey(), () -> startPod(p));
                }
            } else if (r.uid().equals(p.getMetadata().getUid()) && !statusMatches(p, r)) {
                submit(e.getKey(), () -> writeRunningStatus(p, r));
            }
        }
    }

    private void submit(String key, Runnable work) {
        if (inFlight.add(key)) {
            workers.submit(() -> {
                try {
                    work.run();
                } catch (RuntimeException e) {
                    LOG.log(Level.WARNING, key + ": " + e.getMessage(), e);
                } finally {
                    inFlight.remove(key);
                    LockSupport.unpark(loopThread);
                }
            });
        }
    }

    private void startPod(Pod pod) {
        String ns = pod.getMetadata().getNamespace();
        String name = pod.getMetadata().getName();
        String key = ns + "/" + name;
        NodeState node = cluster.node(pod.getSpec().getNodeName());
        String containerId = HexFormat.of().formatHex(sha256(pod.getMetadata().getUid() + "/" + System.nanoTime())).substring(0, 64);
        String netns = "wft-" + cluster.id() + "-pod-" + containerId.substring(0, 12);
        Path control = layout.pods().resolve(containerId.substring(0, 12) + ".sock");
        List<Integer> tcp = new ArrayList<>();
        List<Integer> udp = new ArrayList<>();
        for (var c : pod.getSpec().getContainers()) {
            if (c.getPorts() != null) {
                for (ContainerPort port : c.getPorts()) {
                    if ("UDP".equalsIgnoreCase(port.getProtocol())) {
                        udp.add(port.getContainerPort());
                    } else if (port.getProtocol() == null || "TCP".equalsIgnoreCase(port.getProtocol())) {
                        tcp.add(port.getContainerPort());
                    }
                }
            }
        }
        layout.rememberNetns(netns);
        Sh.check("ip", "netns", "add", netns);
        Sh.check("ip", "-n", netns, "link", "set", "lo", "up");
        // The responder (this pod's "containers") starts while the CNI plugin wires the network, as a kubelet starts
        // containers in a sandbox whose network is being set up: it binds wildcard addresses, so it does not need the
        // interface yet, and its JVM start stays off the pod's critical path.
        long pid = startResponder(key, netns, control, tcp, udp, nginxLike(pod));
        String cniResult;
        long cniStart = System.nanoTime();
        try {
            cniResult = cni(node, "ADD", containerId, netns, pod, null);
        } catch (RuntimeException e) {
            Procs.read(layout.pidFile("pod-" + key.replace('/', '_'))).ifPresent(p -> Procs.stop(p, 2000));
            Sh.run("ip", "netns", "delete", netns);
            retryAfter.put(key, System.currentTimeMillis() + 3000);
            writeFailedStatus(pod, "CNI ADD failed: " + e.getMessage());
            throw e;
        }
        long cniAddMicros = (System.nanoTime() - cniStart) / 1000;
        retryAfter.remove(key);
        JsonNode result = readJson(cniResult);
        String ip = "";
        for (JsonNode ipc : result.path("ips")) {
            String addr = ipc.path("address").asText();
            if (!addr.isEmpty() && ip.isEmpty()) {
                ip = addr.substring(0, addr.indexOf('/') < 0 ? addr.length() : addr.indexOf('/'));
            }
        }
        String mac = "";
        for (JsonNode itf : result.path("interfaces")) {
            if (!itf.path("sandbox").asText().isEmpty()) {
                mac = itf.path("mac").asText();
            }
        }
        // Before the pod is Running: a command exec'd in it as soon as apply returns finds the Services' names.
        PodHosts.write(netns, PodHosts.render(ns, name, ip, services.getStore().list()));
        PodRecord record = new PodRecord(ns, name, pod.getMetadata().getUid(), node.name(), netns, containerId, ip, mac, pid,
                control.toString(), tcp, udp, cniResult, cniAddMicros);
        Layout.writeJson(layout.pods().resolve(PodRecord.fileName(ns, name)), record);
        running.put(key, record);
        awaitControlSocket(control, pid, key);
        writeRunningStatus(pod, record);
        LOG.info("pod " + key + " running on " + node.name() + " with IP " + ip + " (netns " + netns + ")");
    }

    /** Pods of an nginx image answer browsers (wget, curl) with nginx's welcome page, as the walkthrough's do. */
    static String nginxLike(Pod pod) {
        return pod.getSpec().getContainers().stream().map(c -> c.getImage() == null ? "" : c.getImage())
                .anyMatch(i -> i.equals("nginx") || i.startsWith("nginx:") || i.contains("/nginx")) ? "Welcome to nginx!" : null;
    }

    private long startResponder(String key, String netns, Path control, List<Integer> tcp, List<Integer> udp, String htmlTitle) {
        List<String> command = PodResponder.command(layout, netns, key, control, tcp, udp, htmlTitle);
        try {
            Path log = layout.logs().resolve("pods").resolve(key.replace('/', '_') + ".log");
            Files.createDirectories(log.getParent());
            Process p = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            Procs.record(layout.pidFile("pod-" + key.replace('/', '_')), p.pid());
            return p.pid();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the responder of " + key, e);
        }
    }

    private static void awaitControlSocket(Path control, long pid, String key) {
        long deadline = System.currentTimeMillis() + 60_000;
        while (!Files.exists(control)) {
            if (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false) == false) {
                throw new IllegalStateException("the responder of " + key + " exited (port in use or bad port?)");
            }
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("the responder of " + key + " did not start within 60 s");
            }
            Procs.sleep(5);
        }
    }

    private void stopPod(PodRecord r) {
        Procs.read(layout.pidFile("pod-" + r.key().replace('/', '_'))).ifPresent(p -> Procs.stop(p, 2000));
        NodeState node = cluster.node(r.node());
        try {
            Pod asIf = new PodBuilder().withNewMetadata().withNamespace(r.namespace()).withName(r.name()).withUid(r.uid())
                    .endMetadata().build();
            cni(node, "DEL", r.containerId(), r.netns(), asIf, r.cniResult());
        } catch (RuntimeException e) {
            LOG.warning("CNI DEL of " + r.key() + " failed (netns removed anyway): " + e.getMessage());
        }
        Sh.run("ip", "netns", "delete", r.netns());
        PodHosts.remove(r.netns());
        try {
            Files.deleteIfExists(layout.pods().resolve(PodRecord.fileName(r.namespace(), r.name())));
            Files.deleteIfExists(Path.of(r.controlSocket()));
            Files.deleteIfExists(layout.pidFile("pod-" + r.key().replace('/', '_')));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        running.remove(r.key());
        LOG.info("pod " + r.key() + " stopped and removed from " + r.node());
    }

    /**
     * Runs every plugin of the node's conflist (the first *.conflist in the agent's conf dir, in name order, as libcni
     * does) through the CNI 1.0 protocol: environment + network configuration on stdin, result or error on stdout.
     */
    private String cni(NodeState node, String command, String containerId, String netns, Pod pod, String prevResult) {
        Path confDir = Path.of(node.cniConfDir());
        Path conflist;
        try (var s = Files.list(confDir)) {
            conflist = s.filter(p -> p.toString().endsWith(".conflist") || p.toString().endsWith(".conf")).sorted().findFirst()
                    .orElseThrow(() -> new IllegalStateException("no CNI configuration in " + confDir + " (is the agent of " + node.name() + " up?)"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        JsonNode conf = readJson(readString(conflist));
        List<JsonNode> plugins = new ArrayList<>();
        if (conf.has("plugins")) {
            conf.get("plugins").forEach(plugins::add);
        } else {
            plugins.add(conf);
        }
        if (command.equals("DEL")) {
            java.util.Collections.reverse(plugins);
        }
        String args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=" + pod.getMetadata().getNamespace() + ";K8S_POD_NAME="
                + pod.getMetadata().getName() + ";K8S_POD_INFRA_CONTAINER_ID=" + containerId + ";K8S_POD_UID=" + pod.getMetadata().getUid();
        String result = prevResult;
        for (JsonNode plugin : plugins) {
            ObjectNode net = plugin.deepCopy();
            // The agent wrote the conflist in its container, with the node's paths (/var/run/weft/cni.sock): on this
            // machine the node's file system is nodes/NODE/root, where its hostPath volumes are.
            Path root = Topology.nodeRootLink(cluster, node.name());
            for (var it = net.fields(); it.hasNext(); ) {
                var field = it.next();
                if (field.getValue().isTextual() && field.getValue().asText().startsWith("/var/")) {
                    field.setValue(new com.fasterxml.jackson.databind.node.TextNode(
                            root.resolve(field.getValue().asText().substring(1)).toString()));
                }
            }
            net.put("cniVersion", conf.path("cniVersion").asText("1.0.0"));
            net.put("name", conf.path("name").asText("weft"));
            if (result != null && !result.isBlank()) {
                net.set("prevResult", readJson(result));
            }
            String type = plugin.path("type").asText();
            Path binary = Path.of(node.cniBinDir(), type);
            if (!Files.isExecutable(binary)) {
                throw new IllegalStateException("CNI plugin " + type + " not found in " + node.cniBinDir());
            }
            Map<String, String> env = Map.of("CNI_COMMAND", command, "CNI_CONTAINERID", containerId,
                    "CNI_NETNS", "/var/run/netns/" + netns, "CNI_IFNAME", "eth0", "CNI_ARGS", args, "CNI_PATH", node.cniBinDir());
            Sh.Result r = Sh.run(List.of(binary.toString()), env, net.toString().getBytes(StandardCharsets.UTF_8), 120);
            if (!r.ok()) {
                JsonNode err = readJsonOrNull(r.out());
                String msg = err == null ? r.out().strip() + " " + r.err().strip()
                        : err.path("code").asText() + " " + err.path("msg").asText() + " " + err.path("details").asText();
                throw new IllegalStateException("CNI " + command + " via " + type + " failed: " + msg.strip());
            }
            if (command.equals("ADD")) {
                result = r.out();
            }
        }
        return result == null ? "{}" : result;
    }

    private void writeRunningStatus(Pod pod, PodRecord r) {
        NodeState node = cluster.node(r.node());
        String now = Instant.now().toString();
        List<PodCondition> conditions = new ArrayList<>();
        for (String type : List.of("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")) {
            conditions.add(new PodConditionBuilder().withType(type).withStatus("True").withLastTransitionTime(now).build());
        }
        var containerStatuses = pod.getSpec().getContainers().stream().map(c -> new ContainerStatusBuilder().withName(c.getName())
                .withImage(c.getImage()).withImageID("").withContainerID("weft-local://" + r.containerId()).withReady(true)
                .withStarted(true).withRestartCount(0).withNewState().withNewRunning().withStartedAt(now).endRunning().endState()
                .build()).toList();
        PodStatus status = new PodStatusBuilder().withPhase("Running").withPodIP(r.ip()).withPodIPs(new PodIP(r.ip()))
                .withHostIP(node.ip()).withHostIPs(new io.fabric8.kubernetes.api.model.HostIP(node.ip()))
                .withStartTime(now).withConditions(conditions).withContainerStatuses(containerStatuses).withQosClass("BestEffort").build();
        try {
            client.pods().inNamespace(r.namespace()).withName(r.name()).editStatus(p -> {
                if (!r.uid().equals(p.getMetadata().getUid())) {
                    return p;
                }
                p.setStatus(status);
                return p;
            });
        } catch (KubernetesClientException e) {
            LOG.fine("status of " + r.key() + ": " + e.getMessage());
        }
    }

    private void writeFailedStatus(Pod pod, String message) {
        try {
            client.pods().inNamespace(pod.getMetadata().getNamespace()).withName(pod.getMetadata().getName()).editStatus(p -> {
                p.setStatus(new PodStatusBuilder().withPhase("Pending").withMessage(message).withReason("NetworkNotReady").build());
                return p;
            });
        } catch (KubernetesClientException e) {
            LOG.fine("status: " + e.getMessage());
        }
    }

    private static boolean statusMatches(Pod p, PodRecord r) {
        return p.getStatus() != null && "Running".equals(p.getStatus().getPhase()) && r.ip().equals(p.getStatus().getPodIP());
    }

    private static String phase(Pod p) {
        return p.getStatus() == null ? null : p.getStatus().getPhase();
    }

    private static byte[] sha256(String s) {
        try {
            return java.security.MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String readString(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static JsonNode readJson(String s) {
        try {
            return Layout.JSON.readTree(s);
        } catch (IOException e) {
            throw new IllegalStateException("not JSON: " + s, e);
        }
    }

    private static JsonNode readJsonOrNull(String s) {
        try {
            return s == null || s.isBlank() ? null : Layout.JSON.readTree(s);
        } catch (IOException e) {
            return null;
        }
    }
}
