package dev.weft.localcluster;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.stream.Stream;

/**
 * Real traffic between pods and hosts: each probe is executed by the source's responder, inside the source's netns.
 * A source or destination is a pod ({@code NS/NAME}, or {@code NAME} in default), {@code outside} (the outside host) or
 * {@code node/NODE} (that node's host network, as a hostNetwork process or the kubelet sees it).
 */
final class Probes {
    static final String OUTSIDE = "outside";
    static final String NODE_PREFIX = "node/";

    record Target(String key, String ip, Path control) {
    }

    /** {@code sourceSeen}: the address the destination's responder saw the traffic come from (null if none answered). */
    record Outcome(String from, String to, boolean ok, String detail, String sourceSeen) {
        Outcome(String from, String to, boolean ok, String detail) {
            this(from, to, ok, detail, null);
        }
    }

    private final Layout layout;

    Probes(Layout layout) {
        this.layout = layout;
    }

    /** Every pod the kubelets started and the API still has with an IP, sorted by NS/NAME. */
    List<Target> runningPods(KubernetesClient client, List<String> namespaces) {
        List<Target> targets = new ArrayList<>();
        if (!Files.isDirectory(layout.pods())) {
            return targets;
        }
        try (Stream<Path> s = Files.list(layout.pods())) {
            for (Path f : s.filter(p -> p.toString().endsWith(".json")).sorted().toList()) {
                PodRecord r;
                try {
                    r = Layout.JSON.readValue(f.toFile(), PodRecord.class);
                } catch (IOException e) {
                    continue;
                }
                if (!namespaces.isEmpty() && !namespaces.contains(r.namespace())) {
                    continue;
                }
                Pod p = client.pods().inNamespace(r.namespace()).withName(r.name()).get();
                if (p != null && r.uid().equals(p.getMetadata().getUid()) && p.getMetadata().getDeletionTimestamp() == null) {
                    targets.add(new Target(r.key(), r.ip(), Path.of(r.controlSocket())));
                }
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        targets.sort(Comparator.comparing(Target::key));
        return targets;
    }

    Target find(KubernetesClient client, String key) {
        if (!key.contains("/")) {
            key = "default/" + key;
        }
        String k = key;
        return runningPods(client, List.of()).stream().filter(t -> t.key().equals(k)).findFirst()
                .orElseThrow(() -> new UserError("pod " + k + " is not running in the local cluster"));
    }

    /** A pod, {@code outside} or {@code node/NODE} (see the class comment). */
    Target endpoint(ClusterState cluster, KubernetesClient client, String spec) {
        if (isService(spec) || spec.matches("[0-9.]+")) {
            throw new UserError(spec + " can only be a destination (--to): nothing runs there to probe from");
        }
        if (spec.equals(OUTSIDE)) {
            if (cluster.outside() == null) {
                throw new UserError("this cluster has no outside host (brought up by an older ./localcluster); run down and up");
            }
            return new Target(OUTSIDE, cluster.outside().ip(), layout.hostControl(OUTSIDE));
        }
        if (spec.startsWith(NODE_PREFIX)) {
            var node = cluster.node(spec.substring(NODE_PREFIX.length()));
            return new Target(NODE_PREFIX + node.name(), node.ip(), layout.hostControl(node.name()));
        }
        return find(client, spec);
    }

    static final String SERVICE_PREFIX = "svc/";

    /** {@code svc/NS/NAME}: two slashes, so {@code svc/POD} stays a pod of a namespace named svc. */
    static boolean isService(String spec) {
        return spec.startsWith(SERVICE_PREFIX) && spec.chars().filter(c -> c == '/').count() == 2;
    }

    /**
     * A probe's destination: what {@link #endpoint} accepts, or {@code svc/NS/NAME} (the Service's cluster IP, which
     * must have {@code port}/{@code protocol}; always with the namespace, as {@code svc/NAME} is pod NAME of a namespace
     * called svc), or an IPv4 address (a cluster IP, a node IP
     * with a node port). Neither of the last two can be a source: no responder runs there.
     */
    Target destination(ClusterState cluster, KubernetesClient client, String spec, String protocol, int port) {
        if (isService(spec)) {
            String ref = spec.substring(SERVICE_PREFIX.length());
            String ns = ref.substring(0, ref.indexOf('/'));
            String name = ref.substring(ref.indexOf('/') + 1);
            var svc = client.services().inNamespace(ns).withName(name).get();
            if (svc == null) {
                throw new UserError("service " + ns + "/" + name + " not found");
            }
            String ip = svc.getSpec().getClusterIP();
            if (ip == null || ip.isBlank() || ip.equals("None")) {
                throw new UserError("service " + ns + "/" + name + " has no cluster IP (" + svc.getSpec().getType()
                        + (ip == null ? "" : ", clusterIP " + ip) + ")");
            }
            var ports = svc.getSpec().getPorts() == null ? List.<io.fabric8.kubernetes.api.model.ServicePort>of() : svc.getSpec().getPorts();
            if (ports.stream().noneMatch(p -> p.getPort() == port && protocol.equalsIgnoreCase(p.getProtocol()))) {
                throw new UserError("service " + ns + "/" + name + " has no port " + port + "/" + protocol + " (ports: "
                        + String.join(", ", ports.stream().map(p -> p.getPort() + "/" + p.getProtocol()).toList()) + ")");
            }
            return new Target(SERVICE_PREFIX + ns + "/" + name, ip, null);
        }
        if (spec.matches("\\d{1,3}(\\.\\d{1,3}){3}")) {
            if (dev.weft.net.IpAddress.tryParse(spec).isEmpty()) {
                throw new UserError("not an IPv4 address: " + spec);
            }
            return new Target(spec, spec, null);
        }
        return endpoint(cluster, client, spec);
    }

    static Outcome probe(Target from, Target to, String protocol, int port, int timeoutMs) {
        var r = PodResponder.probeVia(from.control(), protocol, to.ip(), port, timeoutMs);
        return new Outcome(from.key(), to.key(), r.ok(), r.detail(), r.sourceSeen().orElse(null));
    }

    /** Every ordered pair (self pairs omitted), in parallel. */
    static Map<String, Map<String, Outcome>> matrix(List<Target> pods, String protocol, int port, int timeoutMs) {
        Map<String, Map<String, Future<Outcome>>> futures = new LinkedHashMap<>();
        Semaphore limit = new Semaphore(64);
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            for (Target from : pods) {
                Map<String, Future<Outcome>> row = new LinkedHashMap<>();
                for (Target to : pods) {
                    if (from != to) {
                        row.put(to.key(), pool.submit(() -> {
                            limit.acquire();
                            try {
                                return probe(from, to, protocol, port, timeoutMs);
                            } finally {
                                limit.release();
                            }
                        }));
                    }
                }
                futures.put(from.key(), row);
            }
            Map<String, Map<String, Outcome>> result = new LinkedHashMap<>();
            for (var e : futures.entrySet()) {
                Map<String, Outcome> row = new LinkedHashMap<>();
                for (var c : e.getValue().entrySet()) {
                    row.put(c.getKey(), c.getValue().get());
                }
                result.put(e.getKey(), row);
            }
            return result;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    static Map<String, Map<String, Boolean>> truth(Map<String, Map<String, Outcome>> matrix) {
        Map<String, Map<String, Boolean>> t = new LinkedHashMap<>();
        matrix.forEach((from, row) -> {
            Map<String, Boolean> r = new LinkedHashMap<>();
            row.forEach((to, o) -> r.put(to, o.ok()));
            t.put(from, r);
        });
        return t;
    }

    /** The upstream e2e style: rows are sources, columns destinations, '.' connected, 'X' blocked, '-' self. */
    static String table(Map<String, Map<String, Boolean>> truth) {
        List<String> keys = new ArrayList<>(truth.keySet());
        int width = keys.stream().mapToInt(String::length).max().orElse(4);
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("%-" + width + "s", "from \\ to"));
        for (int i = 0; i < keys.size(); i++) {
            sb.append(String.format(" %3d", i + 1));
        }
        sb.append('\n');
        for (int i = 0; i < keys.size(); i++) {
            String from = keys.get(i);
            sb.append(String.format("%-" + width + "s", from));
            for (String to : keys) {
                Boolean v = truth.get(from).get(to);
                sb.append(String.format(" %3s", from.equals(to) ? "-" : v == null ? "?" : v ? "." : "X"));
            }
            sb.append('\n');
        }
        sb.append("columns: ");
        for (int i = 0; i < keys.size(); i++) {
            sb.append(i == 0 ? "" : ", ").append(i + 1).append('=').append(keys.get(i));
        }
        sb.append("\n'.' = connected, 'X' = no connection\n");
        return sb.toString();
    }
}
