package dev.weft.localcluster;

import dev.weft.localcluster.ClusterState.NodeState;
import dev.weft.proto.agent.v1.AgentQueryGrpc;
import dev.weft.proto.agent.v1.ListNetworkPoliciesRequest;
import dev.weft.proto.controlplane.v1.ControlPlaneGrpc;
import dev.weft.proto.controlplane.v1.GetPolicyStatusRequest;
import dev.weft.proto.controlplane.v1.PolicyStatus;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.grpc.StatusRuntimeException;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/** The verbs of {@code ./localcluster}. */
final class Verbs {
    static final Duration APPLY_TIMEOUT = Duration.ofSeconds(Integer.getInteger("localcluster.apply-timeout-s", 180));

    private final Layout layout;
    private final PrintStream out;

    Verbs(Layout layout, PrintStream out) {
        this.layout = layout;
        this.out = out;
    }

    int up(List<String> rest) {
        Args a = new Args(rest, Set.of("--nodes", "--service-cidr"), Set.of());
        new Cluster(layout, out).up(a.intOption("--nodes", 3), a.get("--service-cidr").orElse(ServiceAdmission.DEFAULT_SERVICE_CIDR));
        return 0;
    }

    int down(List<String> rest) {
        new Args(rest, Set.of(), Set.of());
        new Cluster(layout, out).down(true);
        return 0;
    }

    // ------------------------------------------------------------------ apply / delete

    int apply(List<String> rest) {
        Args a = new Args(rest, Set.of("-f", "--filename"), Set.of("--no-wait"));
        ClusterState cluster = layout.requireCluster();
        try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
            List<HasMetadata> objects = Manifests.load(client, a.all("-f", "--filename"));
            var applied = Manifests.apply(client, objects, ServiceAdmission.serviceCidr(cluster));
            applied.forEach(x -> out.println(x.describe()));
            if (!a.has("--no-wait")) {
                awaitApplied(cluster, client, objects);
            }
        }
        return 0;
    }

    /** Every affected pod running with an IP, then every affected policy realized on every node of its span. */
    void awaitApplied(ClusterState cluster, KubernetesClient client, List<HasMetadata> objects) {
        long deadline = System.nanoTime() + APPLY_TIMEOUT.toNanos();
        Set<String> namespaces = objects.stream().map(o -> o.getMetadata().getNamespace() == null ? o.getMetadata().getName()
                : o.getMetadata().getNamespace()).collect(Collectors.toSet());
        boolean touchesPods = objects.stream().anyMatch(o -> !(o instanceof NetworkPolicy) && !(o instanceof io.fabric8.kubernetes.api.model.Service));
        if (touchesPods) {
            awaitPods(client, objects, deadline);
        }
        awaitEndpointSlices(client, objects, deadline);
        boolean nsLabels = objects.stream().anyMatch(o -> o instanceof io.fabric8.kubernetes.api.model.Namespace);
        List<NetworkPolicy> policies = client.network().v1().networkPolicies().inAnyNamespace().list().getItems().stream()
                .filter(np -> nsLabels || namespaces.contains(np.getMetadata().getNamespace()) || touchesPods).toList();
        awaitRealized(cluster, policies, deadline);
    }

    private void awaitPods(KubernetesClient client, List<HasMetadata> objects, long deadline) {
        String last = "";
        while (true) {
            List<String> notReady = new ArrayList<>();
            for (HasMetadata o : objects) {
                if (o instanceof Pod p) {
                    Pod cur = client.pods().inNamespace(p.getMetadata().getNamespace()).withName(p.getMetadata().getName()).get();
                    if (cur != null && !running(cur)) {
                        notReady.add("pod " + p.getMetadata().getNamespace() + "/" + p.getMetadata().getName() + " " + describeWait(cur));
                    }
                } else if (o instanceof Deployment d) {
                    Deployment cur = client.apps().deployments().inNamespace(d.getMetadata().getNamespace()).withName(d.getMetadata().getName()).get();
                    if (cur == null) {
                        continue;
                    }
                    int desired = cur.getSpec().getReplicas() == null ? 1 : cur.getSpec().getReplicas();
                    List<Pod> owned = client.pods().inNamespace(d.getMetadata().getNamespace()).list().getItems().stream()
                            .filter(p -> p.getMetadata().getOwnerReferences() != null && p.getMetadata().getOwnerReferences().stream()
                                    .anyMatch(r -> r.getUid().equals(cur.getMetadata().getUid()))).toList();
                    long ok = owned.stream().filter(Verbs::running).count();
                    if (owned.size() != desired || ok != desired) {
                        notReady.add("deployment " + d.getMetadata().getName() + " " + ok + "/" + desired + " running"
                                + owned.stream().filter(p -> !running(p)).findFirst().map(p -> " (" + p.getMetadata().getName() + " " + describeWait(p) + ")").orElse(""));
                    }
                }
            }
            if (notReady.isEmpty()) {
                return;
            }
            last = String.join("; ", notReady);
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("not running after " + APPLY_TIMEOUT.toSeconds() + " s: " + last
                        + " (see " + layout.log("cluster-controller") + ")");
            }
            Procs.sleep(200);
        }
    }

    /**
     * Every applied Service with a selector has its EndpointSlices listing each running pod it selects (the
     * cluster-controller writes them asynchronously); the agents program their flows from those.
     */
    private void awaitEndpointSlices(KubernetesClient client, List<HasMetadata> objects, long deadline) {
        for (HasMetadata o : objects) {
            if (!(o instanceof io.fabric8.kubernetes.api.model.Service svc) || svc.getSpec().getSelector() == null
                    || svc.getSpec().getSelector().isEmpty()) {
                continue;
            }
            String ns = svc.getMetadata().getNamespace();
            while (true) {
                long pods = client.pods().inNamespace(ns).withLabels(svc.getSpec().getSelector()).list().getItems().stream()
                        .filter(Verbs::running).count();
                long endpoints = client.discovery().v1().endpointSlices().inNamespace(ns)
                        .withLabel(EndpointSlices.SERVICE_NAME_LABEL, svc.getMetadata().getName()).list().getItems().stream()
                        .mapToLong(s -> s.getEndpoints() == null ? 0 : s.getEndpoints().size()).sum();
                boolean sliced = !client.discovery().v1().endpointSlices().inNamespace(ns)
                        .withLabel(EndpointSlices.SERVICE_NAME_LABEL, svc.getMetadata().getName()).list().getItems().isEmpty();
                if (sliced && endpoints == pods) {
                    break;
                }
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("service " + ns + "/" + svc.getMetadata().getName() + ": its EndpointSlices list "
                            + endpoints + " of " + pods + " running pods after " + APPLY_TIMEOUT.toSeconds() + " s (see "
                            + layout.log("cluster-controller") + ")");
                }
                Procs.sleep(200);
            }
        }
    }

    private static boolean running(Pod p) {
        return p.getStatus() != null && "Running".equals(p.getStatus().getPhase()) && p.getStatus().getPodIP() != null;
    }

    private static String describeWait(Pod p) {
        if (p.getStatus() == null || p.getStatus().getPhase() == null) {
            return "Pending";
        }
        return p.getStatus().getPhase() + (p.getStatus().getMessage() == null ? "" : ": " + p.getStatus().getMessage());
    }

    /**
     * Where the tools reach ipam-service or policy-service: a ready endpoint of its Service's EndpointSlices (a node
     * address, reachable from here over the underlay), as the agents find it.
     */
    static String controlPlaneAddress(ClusterState cluster, KubernetesClient api, String service) {
        for (var slice : api.discovery().v1().endpointSlices().inNamespace(PodmanKubelet.NAMESPACE)
                .withLabel("kubernetes.io/service-name", service).list().getItems()) {
            int port = slice.getPorts().getFirst().getPort();
            for (var e : slice.getEndpoints()) {
                if (e.getConditions() == null || !Boolean.FALSE.equals(e.getConditions().getReady())) {
                    return e.getAddresses().getFirst() + ":" + port;
                }
            }
        }
        throw new IllegalStateException("no ready endpoint of Service weft-system/" + service);
    }

    /** policy-service's GetPolicyStatus: realized on all desired nodes at the policy's current generation. */
    void awaitRealized(ClusterState cluster, List<NetworkPolicy> policies, long deadline) {
        if (policies.isEmpty()) {
            return;
        }
        try (KubernetesClient api = Kube.client(cluster.apiUrl());
             Grpc grpc = Grpc.controlPlane(api, controlPlaneAddress(cluster, api, "policy-service"), Grpc.POLICY_SERVER_NAME)) {
            // As a caller of its own: the token of the local cluster's pod weft-system/localcluster (SystemIdentities).
            var stub = ControlPlaneGrpc.newBlockingStub(grpc.channel).withInterceptors(Grpc.bearer(SystemIdentities.cliToken(layout)));
            String last = "";
            while (true) {
                List<String> pending = new ArrayList<>();
                Map<String, PolicyStatus> byKey = new LinkedHashMap<>();
                try {
                    for (PolicyStatus s : stub.withDeadlineAfter(5, TimeUnit.SECONDS).getPolicyStatus(GetPolicyStatusRequest.getDefaultInstance()).getItemsList()) {
                        byKey.put(s.getSource().getNamespace() + "/" + s.getSource().getName(), s);
                    }
                } catch (StatusRuntimeException e) {
                    pending.add("policy-service: " + e.getStatus());
                }
                for (NetworkPolicy np : policies) {
                    String key = np.getMetadata().getNamespace() + "/" + np.getMetadata().getName();
                    PolicyStatus s = byKey.get(key);
                    long generation = np.getMetadata().getGeneration() == null ? 1 : np.getMetadata().getGeneration();
                    if (s == null) {
                        pending.add(key + " not known to policy-service yet");
                    } else if (!s.getError().isEmpty()) {
                        throw new IllegalStateException("networkpolicy " + key + " is invalid: " + s.getError());
                    } else if (s.getSource().getGeneration() < generation || s.getFailedNodesCount() > 0
                            || (s.getPendingNodesCount() > 0 && !realizedOnAgents(layout, cluster, np, generation, s.getPendingNodesList()))) {
                        pending.add(key + " realized on " + s.getRealizedNodes() + "/" + s.getDesiredNodes() + " nodes (generation "
                                + s.getSource().getGeneration() + "/" + generation + (s.getFailedNodesCount() > 0 ? ", failed on " + s.getFailedNodesList() : "") + ")");
                    }
                }
                if (pending.isEmpty()) {
                    return;
                }
                last = String.join("; ", pending);
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("not realized after " + APPLY_TIMEOUT.toSeconds() + " s: " + last);
                }
                Procs.sleep(200);
            }
        }
    }

    /**
     * policy-service learns realization from the agents' asynchronous reports; a node still "pending" there is asked
     * directly: its agent's AgentQuery says whether it realized this generation (the agent is the authority).
     */
    private static boolean realizedOnAgents(Layout layout, ClusterState cluster, NetworkPolicy np, long generation, List<String> nodes) {
        for (String nodeName : nodes) {
            NodeState node;
            try {
                node = cluster.node(nodeName);
            } catch (UserError e) {
                return false;
            }
            try (Grpc grpc = Grpc.agent(layout, node)) {
                boolean realized = AgentQueryGrpc.newBlockingStub(grpc.channel).withDeadlineAfter(5, TimeUnit.SECONDS)
                        .listNetworkPolicies(ListNetworkPoliciesRequest.newBuilder().setNamespace(np.getMetadata().getNamespace()).build())
                        .getItemsList().stream()
                        .anyMatch(p -> p.getName().equals(np.getMetadata().getName()) && p.getGeneration() >= generation && p.getRealized());
                if (!realized) {
                    return false;
                }
            } catch (StatusRuntimeException e) {
                return false;
            }
        }
        return true;
    }

    int delete(List<String> rest) {
        Args a = new Args(rest, Set.of("-f", "--filename", "-n", "--namespace"), Set.of());
        ClusterState cluster = layout.requireCluster();
        try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
            if (!a.all("-f", "--filename").isEmpty()) {
                List<HasMetadata> objects = Manifests.load(client, a.all("-f", "--filename"));
                Manifests.delete(client, objects).forEach(out::println);
                awaitGone(client, objects);
                return 0;
            }
            List<String> pos = a.positionals();
            if (pos.size() != 2) {
                throw new UserError("usage: delete -f FILE | delete KIND NAME [-n NS]");
            }
            String ns = a.get("-n", "--namespace").orElse("default");
            String name = pos.get(1);
            boolean deleted = switch (kind(pos.get(0))) {
                case "networkpolicies" -> !client.network().v1().networkPolicies().inNamespace(ns).withName(name).delete().isEmpty();
                case "pods" -> !client.pods().inNamespace(ns).withName(name).delete().isEmpty();
                case "deployments" -> !client.apps().deployments().inNamespace(ns).withName(name).delete().isEmpty();
                case "services" -> !client.services().inNamespace(ns).withName(name).delete().isEmpty();
                case "namespaces" -> {
                    boolean d = !client.namespaces().withName(name).delete().isEmpty();
                    if (d) {
                        Manifests.deleteNamespaceContents(client, name);
                    }
                    yield d;
                }
                default -> throw new UserError("cannot delete " + pos.get(0) + " (pods, deployments, services, networkpolicies, namespaces)");
            };
            if (!deleted) {
                throw new UserError(pos.get(0) + " " + name + " not found" + (kind(pos.get(0)).equals("namespaces") ? "" : " in namespace " + ns));
            }
            out.println(pos.get(0) + "/" + name + " deleted");
        }
        return 0;
    }

    /** Pods removed by the kubelet (so their IPs are free and no probe reaches them). */
    private void awaitGone(KubernetesClient client, List<HasMetadata> objects) {
        long deadline = System.nanoTime() + APPLY_TIMEOUT.toNanos();
        Set<String> namespaces = objects.stream().filter(o -> o instanceof io.fabric8.kubernetes.api.model.Namespace)
                .map(o -> o.getMetadata().getName()).collect(Collectors.toSet());
        Set<String> pods = objects.stream().filter(o -> o instanceof Pod).map(o -> o.getMetadata().getNamespace() + "_" + o.getMetadata().getName())
                .collect(Collectors.toSet());
        Set<String> deployments = objects.stream().filter(o -> o instanceof Deployment).map(o -> o.getMetadata().getNamespace() + "/" + o.getMetadata().getName())
                .collect(Collectors.toSet());
        while (System.nanoTime() < deadline) {
            boolean remaining = false;
            try (var s = Files.exists(layout.pods()) ? Files.list(layout.pods()) : java.util.stream.Stream.<Path>empty()) {
                for (Path f : s.filter(p -> p.toString().endsWith(".json")).toList()) {
                    String n = f.getFileName().toString().replace(".json", "");
                    String ns = n.substring(0, n.indexOf('_'));
                    if (pods.contains(n) || namespaces.contains(ns) || deployments.stream().anyMatch(d -> n.startsWith(d.replace('/', '_') + "-"))) {
                        remaining = true;
                    }
                }
            } catch (IOException e) {
                return;
            }
            if (!remaining) {
                return;
            }
            Procs.sleep(200);
        }
    }

    // ------------------------------------------------------------------ get

    int get(List<String> rest) {
        Args a = new Args(rest, Set.of("-n", "--namespace", "-o", "--output", "-l", "--selector"), Set.of("-A", "--all-namespaces"));
        if (a.positionals().size() != 1) {
            throw new UserError("usage: get pods|nodes|networkpolicies|deployments|services|endpointslices|namespaces|weftagentinfos|weftcontrollerinfos [-n NS | -A] [-o wide|json|yaml]");
        }
        ClusterState cluster = layout.requireCluster();
        String kind = kind(a.positionals().getFirst());
        if (InfoTables.PLURALS.containsKey(kind)) {
            return getInfos(cluster, InfoTables.PLURALS.get(kind), a.get("-o", "--output").orElse(""));
        }
        boolean all = a.has("-A") || a.has("--all-namespaces");
        String ns = a.get("-n", "--namespace").orElse("default");
        String output = a.get("-o", "--output").orElse("");
        if (!Set.of("", "wide", "json", "yaml", "name").contains(output)) {
            throw new UserError("unknown output format " + output + " (wide, json, yaml, name)");
        }
        Map<String, String> selector = parseSelector(a.get("-l", "--selector").orElse(""));
        try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
            List<? extends HasMetadata> items = switch (kind) {
                case "pods" -> all ? client.pods().inAnyNamespace().withLabels(selector).list().getItems()
                        : client.pods().inNamespace(ns).withLabels(selector).list().getItems();
                case "nodes" -> client.nodes().withLabels(selector).list().getItems();
                case "networkpolicies" -> all ? client.network().v1().networkPolicies().inAnyNamespace().withLabels(selector).list().getItems()
                        : client.network().v1().networkPolicies().inNamespace(ns).withLabels(selector).list().getItems();
                case "deployments" -> all ? client.apps().deployments().inAnyNamespace().withLabels(selector).list().getItems()
                        : client.apps().deployments().inNamespace(ns).withLabels(selector).list().getItems();
                case "services" -> all ? client.services().inAnyNamespace().withLabels(selector).list().getItems()
                        : client.services().inNamespace(ns).withLabels(selector).list().getItems();
                case "endpointslices" -> all ? client.discovery().v1().endpointSlices().inAnyNamespace().withLabels(selector).list().getItems()
                        : client.discovery().v1().endpointSlices().inNamespace(ns).withLabels(selector).list().getItems();
                case "namespaces" -> client.namespaces().withLabels(selector).list().getItems();
                default -> throw new UserError("cannot get " + a.positionals().getFirst());
            };
            List<HasMetadata> sorted = new ArrayList<>(items);
            sorted.sort(java.util.Comparator.comparing((HasMetadata h) -> String.valueOf(h.getMetadata().getNamespace()))
                    .thenComparing(h -> h.getMetadata().getName()));
            switch (output) {
                case "json", "yaml" -> {
                    var list = new io.fabric8.kubernetes.api.model.KubernetesListBuilder().withItems(sorted).build();
                    list.setApiVersion("v1");
                    list.setKind("List");
                    list.setMetadata(new io.fabric8.kubernetes.api.model.ListMeta());
                    list.getMetadata().setResourceVersion("");
                    out.println(output.equals("json") ? Serialization.asJson(list) : Serialization.asYaml(list));
                }
                case "name" -> sorted.forEach(h -> out.println(kind.replaceAll("s$", "") + "/" + h.getMetadata().getName()));
                default -> {
                    if (sorted.isEmpty()) {
                        out.println(kind.equals("nodes") || kind.equals("namespaces") ? "No resources found"
                                : "No resources found in " + (all ? "any" : ns) + " namespace.");
                    } else {
                        out.print(Tables.render(kind, sorted, output.equals("wide"), all));
                    }
                }
            }
        }
        return 0;
    }

    /** The cluster-scoped info objects with their CRDs' printer columns (-o wide: all of them), or as JSON/YAML. */
    private int getInfos(ClusterState cluster, String plural, String output) {
        try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
            List<io.fabric8.kubernetes.api.model.GenericKubernetesResource> items = new ArrayList<>(
                    client.genericKubernetesResources(InfoTables.context(plural)).list().getItems());
            items.sort(java.util.Comparator.comparing(h -> h.getMetadata().getName()));
            switch (output) {
                case "json" -> out.println(Serialization.asJson(items));
                case "yaml" -> out.println(Serialization.asYaml(items));
                case "", "wide" -> out.print(items.isEmpty() ? "No resources found\n" : InfoTables.render(
                        InfoTables.columns(layout.repo().resolve("src/main/kubernetes/weft.yml"), plural), items,
                        output.equals("wide")));
                default -> throw new UserError("unknown output format " + output + " (wide, json, yaml)");
            }
        }
        return 0;
    }

    static Map<String, String> parseSelector(String s) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String part : s.split(",")) {
            if (part.isBlank()) {
                continue;
            }
            String[] kv = part.split("==?", 2);
            if (kv.length != 2) {
                throw new UserError("only equality selectors (k=v,...) are supported: " + part);
            }
            m.put(kv[0].trim(), kv[1].trim());
        }
        return m;
    }

    static String kind(String word) {
        return switch (word.toLowerCase()) {
            case "pod", "pods", "po" -> "pods";
            case "node", "nodes", "no" -> "nodes";
            case "networkpolicy", "networkpolicies", "netpol" -> "networkpolicies";
            case "deployment", "deployments", "deploy" -> "deployments";
            case "namespace", "namespaces", "ns" -> "namespaces";
            case "service", "services", "svc" -> "services";
            case "endpointslice", "endpointslices" -> "endpointslices";
            default -> word.toLowerCase();
        };
    }

    // ------------------------------------------------------------------ probe / matrix

    int probe(List<String> rest) {
        Args a = new Args(rest, Set.of("--from", "--to", "--port", "--protocol", "--timeout-ms", "-o", "--output"), Set.of());
        ClusterState cluster = layout.requireCluster();
        String protocol = protocol(a);
        int port = port(a);
        int timeout = a.intOption("--timeout-ms", 2000);
        String output = a.get("-o", "--output").orElse("text");
        if (!Set.of("text", "json").contains(output)) {
            throw new UserError("-o must be text or json");
        }
        String fromSpec = a.require("NS/POD|node/NODE|outside", "--from");
        String toSpec = a.require("NS/POD|node/NODE|outside|svc/NS/NAME|IP", "--to");
        if (fromSpec.equals(toSpec)) {
            throw new UserError("--from and --to are the same: " + fromSpec);
        }
        try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
            Probes probes = new Probes(layout);
            var from = probes.endpoint(cluster, client, fromSpec);
            var to = probes.destination(cluster, client, toSpec, protocol, port);
            long t0 = System.nanoTime();
            var o = Probes.probe(from, to, protocol, port, timeout);
            double ms = (System.nanoTime() - t0) / 1e6;
            if (output.equals("json")) {
                Map<String, Object> json = new LinkedHashMap<>();
                json.put("from", from.key());
                json.put("to", to.key());
                json.put("toIP", to.ip());
                json.put("protocol", protocol);
                json.put("port", port);
                json.put("connected", o.ok());
                json.put("sourceSeen", o.sourceSeen());
                json.put("detail", o.detail());
                json.put("ms", Math.round(ms * 10) / 10.0);
                try {
                    out.println(Layout.JSON.writeValueAsString(json));
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            } else {
                out.printf("%s -> %s (%s) %s/%d: %s%s%n", from.key(), to.key(), to.ip(), protocol, port, o.ok() ? "connected" : "no connection",
                        o.detail().isBlank() ? "" : " (" + o.detail() + ")");
            }
            return o.ok() ? 0 : 1;
        }
    }

    int matrix(List<String> rest) {
        Args a = new Args(rest, Set.of("--port", "--protocol", "-o", "--output", "--timeout-ms", "-n", "--namespace"), Set.of());
        ClusterState cluster = layout.requireCluster();
        String protocol = protocol(a);
        int port = port(a);
        int timeout = a.intOption("--timeout-ms", 1000);
        String output = a.get("-o", "--output").orElse("table");
        if (!Set.of("table", "json").contains(output)) {
            throw new UserError("-o must be table or json");
        }
        try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
            var pods = new Probes(layout).runningPods(client, a.all("-n", "--namespace"));
            long t0 = System.nanoTime();
            var truth = Probes.truth(Probes.matrix(pods, protocol, port, timeout));
            double seconds = (System.nanoTime() - t0) / 1e9;
            if (output.equals("json")) {
                out.println(Serialization.asJson(truth));
            } else {
                out.printf("%s/%d reachability, %d pods, %d probes in %.2f s%n", protocol, port, pods.size(),
                        pods.size() * Math.max(0, pods.size() - 1), seconds);
                out.print(Probes.table(truth));
            }
        }
        return 0;
    }

    private static String protocol(Args a) {
        String p = a.get("--protocol").orElse("TCP").toUpperCase();
        if (!Set.of("TCP", "UDP").contains(p)) {
            throw new UserError("--protocol must be TCP or UDP");
        }
        return p;
    }

    private static int port(Args a) {
        int port = a.intOption("--port", -1);
        if (port < 1 || port > 65535) {
            throw new UserError("--port P (1-65535) is required");
        }
        return port;
    }

    // ------------------------------------------------------------------ exec

    /**
     * {@code exec [-i] NS/POD -- CMD...}: the command inside the pod's network namespace ({@code ip netns exec}, so
     * with the pod's hosts file: Service names resolve), its stdout to ours, its stderr to stderr, its exit code
     * ours. stdin is the command's only with {@code -i} (a test runner's stdin is not the command's business).
     */
    int exec(List<String> rest, PrintStream err) {
        int dashes = rest.indexOf("--");
        if (dashes < 0 || dashes == rest.size() - 1) {
            throw new UserError("usage: exec [-i] NS/POD -- CMD [ARGS...], e.g. exec default/busybox-... -- wget -q -O - http://nginx");
        }
        Args a = new Args(rest.subList(0, dashes), Set.of("-n", "--namespace"), Set.of("-i", "--stdin", "-t", "--tty", "-it", "-ti"));
        if (a.positionals().size() != 1) {
            throw new UserError("exec needs one pod (NS/POD, or POD with -n NS), then -- and the command");
        }
        String pod = a.positionals().getFirst();
        if (!pod.contains("/")) {
            pod = a.get("-n", "--namespace").orElse("default") + "/" + pod;
        }
        ClusterState cluster = layout.requireCluster();
        PodRecord record;
        try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
            new Probes(layout).find(client, pod); // running, and the API still has it
            record = Layout.JSON.readValue(layout.pods().resolve(PodRecord.fileName(pod.substring(0, pod.indexOf('/')),
                    pod.substring(pod.indexOf('/') + 1))).toFile(), PodRecord.class);
        } catch (IOException e) {
            throw new UserError("pod " + pod + " has no kubelet record: " + e.getMessage());
        }
        List<String> command = new ArrayList<>(List.of("ip", "netns", "exec", record.netns()));
        command.addAll(rest.subList(dashes + 1, rest.size()));
        boolean stdin = a.has("-i") || a.has("--stdin") || a.has("-it") || a.has("-ti");
        try {
            Process p = new ProcessBuilder(command)
                    .redirectInput(stdin ? ProcessBuilder.Redirect.INHERIT : ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                    .start();
            Thread errs = Thread.ofVirtual().start(() -> copy(p.getErrorStream(), err));
            copy(p.getInputStream(), out);
            int rc = p.waitFor();
            errs.join();
            return rc;
        } catch (IOException e) {
            throw new IllegalStateException("cannot run " + String.join(" ", command) + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted");
        }
    }

    private static void copy(InputStream in, PrintStream to) {
        try (in) {
            byte[] buf = new byte[8192];
            int n;
            while ((n = in.read(buf)) > 0) {
                to.write(buf, 0, n);
                to.flush();
            }
        } catch (IOException e) {
            // the process went away
        }
    }

    // ------------------------------------------------------------------ antctl

    int antctl(List<String> rest) {
        if (rest.size() < 2 || !rest.getFirst().equals("--node")) {
            throw new UserError("usage: antctl --node NODE <args>, e.g. antctl --node node1 get ovsflows -T IngressRule");
        }
        ClusterState cluster = layout.requireCluster();
        NodeState node = cluster.node(rest.get(1));
        List<String> args = rest.subList(2, rest.size());
        // weftctl in the node's agent container, against its socket there, as on a node of a real cluster.
        List<String> exec = new ArrayList<>(List.of("exec", agentContainer(cluster, node), "weftctl"));
        exec.addAll(args);
        return podman(exec);
    }

    // ------------------------------------------------------------------ demo, restarts, status

    int demo(List<String> rest) {
        new Args(rest, Set.of(), Set.of());
        return new Demo(layout, this, out).run();
    }

    int restartAgent(List<String> rest) {
        Args a = new Args(rest, Set.of("--node"), Set.of());
        ClusterState cluster = layout.requireCluster();
        NodeState node = cluster.node(a.require("NODE", "--node"));
        long t0 = System.nanoTime();
        BundleDeployment.restartContainer(cluster, "weft-agent-" + node.name(), "agent", false);
        out.printf("agent container of %s restarted and its pod ready in %.1f s%n", node.name(), (System.nanoTime() - t0) / 1e9);
        return 0;
    }

    int restartOvs(List<String> rest) {
        Args a = new Args(rest, Set.of("--node"), Set.of());
        ClusterState cluster = layout.requireCluster();
        NodeState node = cluster.node(a.require("NODE", "--node"));
        long t0 = System.nanoTime();
        // The openvswitch container restarted as a kubelet restarts it: start-ovs sets flow-restore-wait before
        // ovs-vswitchd starts; br-phy comes back without its address and routes, put back as a node's network
        // configuration would.
        String container = PodmanKubelet.containerName(cluster, "weft-agent-" + node.name(), "openvswitch");
        try {
            Podman.Result r = Podman.exec(List.of("podman", "restart", "--time", "30", container), 120);
            if (r.exit() != 0) {
                throw new IllegalStateException("podman restart " + container + ": " + r.err().strip());
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        Topology topology = new Topology(layout);
        BundleDeployment.awaitOvs(layout, node);
        topology.configureNodeNetwork(node);
        topology.primeTunnelNeighbours(cluster);
        out.printf("openvswitch container of %s restarted in %.1f s (flows are replayed by the agent)%n", node.name(),
                (System.nanoTime() - t0) / 1e9);
        return 0;
    }

    /** status -o json: the API, each node, each system pod (endpoints, containers) or process. */
    private com.fasterxml.jackson.databind.node.ObjectNode statusJson(ClusterState cluster) {
        var json = new com.fasterxml.jackson.databind.ObjectMapper().createObjectNode();
        json.put("id", cluster.id()).put("home", layout.home().toString());
        json.putObject("api").put("url", cluster.apiUrl()).put("nodeUrl", cluster.apiNodeUrl())
                .put("kubeconfig", layout.home().resolve("kubeconfig").toString());
        var nodes = json.putArray("nodes");
        for (NodeState n : cluster.nodes()) {
            nodes.addObject().put("name", n.name()).put("netns", n.netns()).put("ip", n.ip()).put("ovsRunDir", n.ovsRunDir());
        }
        var pods = json.putArray("systemPods");
        {
            try (KubernetesClient api = Kube.client(cluster.apiUrl())) {
                List<io.fabric8.kubernetes.api.model.Service> services = api.services().inNamespace(PodmanKubelet.NAMESPACE).list().getItems();
                for (Pod p : BundleDeployment.systemPods(api, cluster)) {
                    String podIp = p.getStatus() == null ? null : p.getStatus().getPodIP();
                    String service = serviceOf(services, p);
                    // hostNetwork: the pod's ports are on its node's address, in the node's network namespace; from the
                    // root namespace (this tool, the tests) they are reached over the underlay.
                    String netns = cluster.nodes().stream().filter(n -> n.name().equals(p.getSpec().getNodeName()))
                            .map(NodeState::netns).findFirst().orElse(null);
                    var o = pods.addObject().put("name", p.getMetadata().getName()).put("namespace", p.getMetadata().getNamespace())
                            .put("service", service).put("node", p.getSpec().getNodeName()).put("netns", netns)
                            .put("ready", BundleDeployment.ready(p)).put("podIP", podIp);
                    var endpoints = o.putArray("endpoints");
                    for (var c : p.getSpec().getContainers()) {
                        for (var port : c.getPorts()) {
                            endpoints.addObject().put("service", service).put("container", c.getName()).put("name", port.getName())
                                    .put("address", podIp).put("port", port.getContainerPort()).put("protocol", port.getProtocol())
                                    .put("netns", netns);
                        }
                    }
                    var containers = o.putArray("containers");
                    for (var c : p.getSpec().getContainers()) {
                        var s = p.getStatus() == null ? null : p.getStatus().getContainerStatuses().stream()
                                .filter(x -> x.getName().equals(c.getName())).findFirst().orElse(null);
                        containers.addObject().put("name", c.getName()).put("image", c.getImage())
                                .put("podman", PodmanKubelet.containerName(cluster, p.getMetadata().getName(), c.getName()))
                                .put("containerID", s == null ? null : s.getContainerID())
                                .put("ready", s != null && Boolean.TRUE.equals(s.getReady()))
                                .put("restartCount", s == null ? 0 : s.getRestartCount());
                    }
                }
            }
        }
        var procs = json.putArray("processes");
        for (Path f : layout.pidFiles()) {
            var p = Procs.read(f);
            procs.addObject().put("name", f.getFileName().toString().replace(".pid", ""))
                    .put("pid", p.map(Procs.Recorded::pid).orElse(-1L)).put("alive", p.map(Procs.Recorded::alive).orElse(false));
        }
        return json;
    }

    /** The Service whose selector picks the pod (the system pods' Services are headless, one each), else null. */
    private static String serviceOf(List<io.fabric8.kubernetes.api.model.Service> services, Pod pod) {
        Map<String, String> labels = pod.getMetadata().getLabels() == null ? Map.of() : pod.getMetadata().getLabels();
        return services.stream().filter(s -> s.getSpec().getSelector() != null && !s.getSpec().getSelector().isEmpty()
                        && labels.entrySet().containsAll(s.getSpec().getSelector().entrySet()))
                .map(s -> s.getMetadata().getName()).findFirst().orElse(null);
    }

    // ------------------------------------------------------------------ containers

    /** The agent container of the DaemonSet's pod on the node. */
    static String agentContainer(ClusterState cluster, NodeState node) {
        return PodmanKubelet.containerName(cluster, "weft-agent-" + node.name(), "agent");
    }

    private int podman(List<String> args) {
        List<String> cmd = new ArrayList<>(List.of("podman"));
        cmd.addAll(args);
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            p.getOutputStream().close();
            p.getInputStream().transferTo(out);
            return p.waitFor();
        } catch (IOException e) {
            throw new IllegalStateException("cannot run podman: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /**
     * {@code logs POD [-c CONTAINER] [-n NS] [--tail N]}: a system pod's container log ({@code podman logs}); the local
     * cluster's own processes log to logs/NAME.log.
     */
    int logs(List<String> rest) {
        Args a = new Args(rest, Set.of("-c", "--container", "-n", "--namespace", "--tail"), Set.of());
        if (a.positionals().size() != 1) {
            throw new UserError("usage: logs POD [-c CONTAINER] [-n NAMESPACE] [--tail N]; the local cluster's own processes log to " + layout.logs());
        }
        ClusterState cluster = layout.requireCluster();
        String name = a.positionals().getFirst();
        String tail = a.get("--tail").orElse("-1");
        try (KubernetesClient api = Kube.client(cluster.apiUrl())) {
            Pod pod = api.pods().inNamespace(a.get("-n", "--namespace").orElse(PodmanKubelet.NAMESPACE)).withName(name).get();
            if (pod == null) {
                throw new UserError("no pod " + name + " in " + a.get("-n", "--namespace").orElse(PodmanKubelet.NAMESPACE));
            }
            List<String> containers = pod.getSpec().getContainers().stream().map(io.fabric8.kubernetes.api.model.Container::getName).toList();
            String container = a.get("-c", "--container").orElse(containers.size() == 1 ? containers.getFirst() : null);
            if (container == null || !containers.contains(container)) {
                throw new UserError("pod " + name + " has containers " + containers + "; choose one with -c");
            }
            return podman(List.of("logs", "--tail", tail, PodmanKubelet.containerName(cluster, name, container)));
        }
    }

    int status(List<String> rest) {
        Args sa = new Args(rest, Set.of("-o", "--output"), Set.of());
        ClusterState cluster = layout.requireCluster();
        if (sa.get("-o", "--output").map("json"::equals).orElse(false)) {
            out.println(statusJson(cluster).toPrettyString());
            return 0;
        }
        out.println("cluster " + cluster.id() + " (" + layout.home() + ")");
        out.println("  Kubernetes API: " + cluster.apiUrl() + "  kubeconfig: " + layout.home().resolve("kubeconfig"));
        out.println("  the API server from the nodes at " + cluster.apiNodeUrl()
                + "; ipam-service and policy-service on their pods' node IPs, ports 9091 and 9092 (TLS: ./localcluster ca)");
        for (NodeState n : cluster.nodes()) {
            out.printf("  %s: netns %s, IP %s, agent in container %s%n", n.name(), n.netns(), n.ip(), agentContainer(cluster, n));
        }
        if (cluster.outside() != null) {
            out.printf("  outside: netns %s, IP %s%n", cluster.outside().netns(), cluster.outside().ip());
        }
        try (KubernetesClient api = Kube.client(cluster.apiUrl())) {
            for (Pod p : BundleDeployment.systemPods(api, cluster)) {
                out.printf("  pod weft-system/%-40s on %s, %s%n", p.getMetadata().getName(), p.getSpec().getNodeName(),
                        BundleDeployment.ready(p) ? "ready" : "not ready");
            }
        }
        for (Path f : layout.pidFiles()) {
            var p = Procs.read(f);
            out.printf("  process %-40s %s%n", f.getFileName().toString().replace(".pid", ""),
                    p.map(r -> r.alive() ? "running, pid " + r.pid() : "DEAD (pid " + r.pid() + ")").orElse("unknown"));
        }
        return 0;
    }

    /** The CA bundle ipam-service and policy-service publish (ConfigMap weft-system/weft-ca), as PEM. */
    int ca(List<String> rest) {
        new Args(rest, Set.of(), Set.of());
        ClusterState cluster = layout.requireCluster();
        try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
            out.print(dev.weft.security.tls.Pem.certificates(Grpc.controlPlaneCa(client)));
        }
        return 0;
    }

    Layout layout() {
        return layout;
    }

    static String age(String timestamp) {
        if (timestamp == null) {
            return "<unknown>";
        }
        long s = Duration.between(Instant.parse(timestamp), Instant.now()).toSeconds();
        if (s < 120) return Math.max(0, s) + "s";
        if (s < 7200) return (s / 60) + "m";
        if (s < 172800) return (s / 3600) + "h";
        return (s / 86400) + "d";
    }

    static String resource(String path) {
        try (InputStream in = Verbs.class.getResourceAsStream(path)) {
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        } catch (IOException | NullPointerException e) {
            throw new IllegalStateException("missing resource " + path);
        }
    }
}
