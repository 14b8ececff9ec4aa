package dev.weft.localcluster;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The Antrea walkthrough on the local cluster: busybox (6 replicas) and nginx (3) over three nodes with a /24 each,
 * and nginx's NodePort Service ({@code get svc}); everything reaches nginx, and busybox fetches the nginx page through
 * the Service ({@code exec ... wget}); nginx-allow is applied; busybox no longer connects, directly or through the
 * Service, nginx pods still do; the IngressRule flows show the conjunctions. In between, a busybox pod reaches the outside host (TCP and UDP), which sees
 * the pod's node IP, and the outside host reaches no pod. Verifies what it narrates: exit 1 if the datapath does not do what the Antrea walkthrough shows.
 * The before/after matrices are kept in STATE/demo/matrix-{before,after}.json.
 */
final class Demo {
    static final List<String> MANIFESTS = List.of("1-busybox-deployment.yaml", "2-nginx-deployment.yaml", "3-network-policy.yaml");

    private final Layout layout;
    private final Verbs verbs;
    private final PrintStream out;

    Demo(Layout layout, Verbs verbs, PrintStream out) {
        this.layout = layout;
        this.verbs = verbs;
        this.out = out;
    }

    int run() {
        if (layout.readCluster().isEmpty()) {
            say("No cluster yet: bringing up three nodes, each its own network namespace; Weft deployed from its bundle,"
                    + " each node's Open vSwitch and agent as containers of the weft-agent DaemonSet's pod.");
            step("up", "--nodes", "3");
        }
        Path dir = layout.home().resolve("demo");
        List<Path> files = new ArrayList<>();
        try {
            Files.createDirectories(dir);
            for (String m : MANIFESTS) {
                Path f = dir.resolve(m);
                Files.writeString(f, Verbs.resource("/demo/" + m));
                files.add(f);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        say("The busybox deployment of the Antrea walkthrough: six replicas.");
        show(files.get(0));
        step("apply", "-f", files.get(0).toString());
        step("get", "pods", "-o", "wide");
        say("Each node got its own /24 from ipam-service:");
        step("get", "nodes", "-o", "wide");
        say("nginx, three replicas, serving port 80 (the pod responder answers with nginx's welcome page and the pod's name),"
                + "\nand its NodePort Service:");
        show(files.get(1));
        step("apply", "-f", files.get(1).toString());
        step("get", "pods", "-l", "app=nginx", "-o", "wide");
        say("The Service got a cluster IP from the service CIDR and a node port; the cluster-controller keeps its"
                + "\nEndpointSlice (the nginx pods that are ready), which every agent turns into a select group:");
        step("get", "svc");
        step("get", "endpointslices");
        String busybox = firstPod("busybox");
        String nginxPod = firstPod("nginx");
        say("As in the walkthrough, from a busybox pod: wget through the Service (`nginx` resolves from the pod's"
                + "\nhosts file to the cluster IP; the agent picks an nginx pod and DNATs to it):");
        List<String> serviceProblems = new ArrayList<>();
        awaitServiceProgrammed(busybox, serviceProblems);
        Captured fetched = capture("exec", busybox, "--", "sh", "-c", WGET_NGINX);
        if (fetched.rc() != 0 || !fetched.text().contains(NGINX_TITLE)) {
            serviceProblems.add("before the policy: " + busybox + " did not fetch the nginx page through the Service (exit " + fetched.rc() + ")");
        }
        String nginxNode = nginxNode();
        say("No NetworkPolicy yet: the IngressRule table of " + nginxNode + " holds only the default flows.");
        step("antctl", "--node", nginxNode, "get", "ovsflows", "-T", "IngressRule");
        say("Every pod tries every other pod on TCP port 80 (busybox pods listen on nothing, so only the nginx columns connect):");
        var before = matrix();
        save(dir.resolve("matrix-before.json"), before);
        List<String> outsideProblems = outside();
        serviceProblems.addAll(nodePortAndHost());
        say("Now the Antrea walkthrough's policy: only app=nginx pods may reach the nginx pods.");
        show(files.get(2));
        step("apply", "-f", files.get(2).toString());
        step("get", "networkpolicies");
        say("busybox can no longer connect to nginx; nginx pods still talk to each other:");
        var after = matrix();
        save(dir.resolve("matrix-after.json"), after);
        say("Through the Service too: the policy sees the connection after DNAT (the endpoint is an nginx pod), so"
                + "\nbusybox's wget times out ...");
        Captured blocked = capture("exec", busybox, "--", "sh", "-c", WGET_NGINX);
        if (blocked.rc() == 0 || blocked.text().contains(NGINX_TITLE)) {
            serviceProblems.add("after the policy: " + busybox + " still fetched the nginx page through the Service");
        }
        say("... while an nginx pod still fetches it:");
        Captured allowed = capture("exec", nginxPod, "--", "sh", "-c", WGET_NGINX);
        if (allowed.rc() != 0 || !allowed.text().contains(NGINX_TITLE)) {
            serviceProblems.add("after the policy: " + nginxPod + " did not fetch the nginx page through the Service (exit " + allowed.rc() + ")");
        }
        say("The conjunctive flows of the policy in IngressRule (nw_src of the nginx pods, reg1 of the local nginx port, conj_id):");
        step("antctl", "--node", nginxNode, "get", "ovsflows", "-T", "IngressRule");
        step("antctl", "--node", nginxNode, "get", "networkpolicies");
        List<String> problems = new ArrayList<>(check(before, after));
        problems.addAll(outsideProblems);
        problems.addAll(serviceProblems);
        if (problems.isEmpty()) {
            say("As in the Antrea walkthrough: before the policy every pod reached nginx, directly and through its Service;"
                    + "\nafter it only nginx pods do. And busybox reached the outside host from its node's IP (SNAT); the outside"
                    + "\nhost reached no pod directly, but reached nginx's node port on the nodes running an nginx pod, with its"
                    + "\nown address kept (externalTrafficPolicy Local); each node's host network reached the cluster IP.");
            return 0;
        }
        say("NOT as in the Antrea walkthrough:\n  " + String.join("\n  ", problems));
        return 1;
    }

    static List<String> check(Map<String, Map<String, Boolean>> before, Map<String, Map<String, Boolean>> after) {
        List<String> problems = new ArrayList<>();
        before.forEach((from, row) -> row.forEach((to, ok) -> {
            boolean toNginx = to.startsWith("default/nginx-");
            boolean fromNginx = from.startsWith("default/nginx-");
            if (toNginx && !ok) problems.add("before: " + from + " -> " + to + " should connect");
            if (!toNginx && ok) problems.add("before: " + from + " -> " + to + " connected but busybox serves no port");
            boolean afterOk = after.getOrDefault(from, Map.of()).getOrDefault(to, false);
            if (toNginx && fromNginx && !afterOk) problems.add("after: " + from + " -> " + to + " should still connect");
            if (toNginx && !fromNginx && afterOk) problems.add("after: " + from + " -> " + to + " should be blocked");
        }));
        if (before.size() != 9) problems.add("expected the 9 pods of the walkthrough in namespace default, found " + before.size());
        return problems;
    }

    /**
     * A busybox pod reaches the outside host (TCP and UDP port 80), which sees the pod's node IP (SNAT); the outside
     * host cannot open a connection to the pod. Returns what did not happen as it should.
     */
    private List<String> outside() {
        ClusterState cluster = layout.requireCluster();
        String busybox;
        String nodeIp;
        String nginx;
        try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
            nginx = "default/" + client.pods().inNamespace("default").withLabel("app", "nginx").list().getItems().stream()
                    .map(p -> p.getMetadata().getName()).sorted().findFirst()
                    .orElseThrow(() -> new IllegalStateException("no nginx pod"));
            Pod pod = client.pods().inNamespace("default").withLabel("app", "busybox").list().getItems().stream()
                    .filter(p -> p.getStatus() != null && p.getStatus().getPodIP() != null)
                    .min(java.util.Comparator.comparing(p -> p.getMetadata().getName()))
                    .orElseThrow(() -> new IllegalStateException("no running busybox pod"));
            busybox = "default/" + pod.getMetadata().getName();
            nodeIp = cluster.node(pod.getSpec().getNodeName()).ip();
            say("Outside the cluster: the outside host " + cluster.outside().ip() + " sits on the underlay like a server on the internet"
                    + "\n(no route to any pod CIDR) and answers port 80 with the source address it saw. The busybox pod"
                    + "\n" + busybox + " (IP " + pod.getStatus().getPodIP() + ", on " + pod.getSpec().getNodeName() + " = " + nodeIp
                    + ") reaches it:\nthe agent's nftables table masquerades the pod to its node's IP.");
        }
        List<String> problems = new ArrayList<>();
        for (String protocol : List.of("TCP", "UDP")) {
            String json = captureText("probe", "--from", busybox, "--to", Probes.OUTSIDE, "--port", "80", "--protocol", protocol, "-o", "json");
            try {
                var o = Layout.JSON.readTree(json);
                if (!o.path("connected").asBoolean()) {
                    problems.add(busybox + " -> outside " + protocol + "/80 did not connect: " + o.path("detail").asText());
                } else if (!nodeIp.equals(o.path("sourceSeen").asText())) {
                    problems.add(busybox + " -> outside " + protocol + "/80: the outside host saw " + o.path("sourceSeen").asText()
                            + ", not the node IP " + nodeIp);
                }
            } catch (IOException e) {
                problems.add("probe printed no JSON: " + json);
            }
        }
        say("The other way round, the outside host has no route to any pod, not even to " + nginx
                + "\nwhich every pod reached (from outside, pods are reachable only through a Service):");
        String back = captureText("probe", "--from", Probes.OUTSIDE, "--to", nginx, "--port", "80", "--timeout-ms", "1000");
        if (back.contains(": connected")) {
            problems.add("the outside host reached " + nginx);
        }
        return problems;
    }

    /**
     * nginx's node port from the outside host on every node (externalTrafficPolicy Local: it connects exactly on the
     * nodes running an nginx pod, and that pod sees the outside host's own address), then the cluster IP from each
     * node's host network (routed into the node's switch from its gateway address). Returns what did not happen as it
     * should.
     */
    private List<String> nodePortAndHost() {
        ClusterState cluster = layout.requireCluster();
        int nodePort;
        java.util.Set<String> nginxNodes = new java.util.TreeSet<>();
        Map<String, String> gateways = new java.util.HashMap<>();
        try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
            client.nodes().list().getItems().forEach(n -> gateways.put(n.getMetadata().getName(),
                    dev.weft.net.IpPrefix.parse(n.getSpec().getPodCIDR()).address(1).toString()));
            nodePort = client.services().inNamespace("default").withName("nginx").get().getSpec().getPorts().get(0).getNodePort();
            client.pods().inNamespace("default").withLabel("app", "nginx").list().getItems().stream()
                    .map(p -> p.getSpec().getNodeName()).filter(n -> n != null).forEach(nginxNodes::add);
        }
        List<String> problems = new ArrayList<>();
        say("nginx's Service is a NodePort with externalTrafficPolicy Local: from the outside host, node port " + nodePort
                + "\nconnects on the nodes running an nginx pod (" + String.join(", ", nginxNodes) + ") and on no other, and the"
                + "\nnginx pod sees the outside host's own address " + cluster.outside().ip() + " (no SNAT):");
        for (var node : cluster.nodes()) {
            var o = probeJson(problems, "--from", Probes.OUTSIDE, "--to", node.ip(), "--port", "" + nodePort);
            if (o == null) {
                continue;
            }
            boolean expected = nginxNodes.contains(node.name());
            if (o.path("connected").asBoolean() != expected) {
                problems.add("outside -> " + node.name() + " (" + node.ip() + "):" + nodePort + (expected
                        ? " did not connect, though an nginx pod runs there" : " connected, though no nginx pod runs there"));
            } else if (expected && !cluster.outside().ip().equals(o.path("sourceSeen").asText())) {
                problems.add("outside -> " + node.name() + ":" + nodePort + ": nginx saw " + o.path("sourceSeen").asText()
                        + ", not the outside host's " + cluster.outside().ip());
            }
        }
        say("And from each node's own host network (the kubelet, hostNetwork pods) to the cluster IP: the agent routes"
                + "\nthe service CIDR into its gateway, so the node's switch picks the nginx pod, and the pod sees the"
                + "\nnode's gateway address (the first of its pod CIDR), through which the reply returns:");
        for (var node : cluster.nodes()) {
            var o = probeJson(problems, "--from", Probes.NODE_PREFIX + node.name(), "--to", "svc/default/nginx", "--port", "80");
            if (o == null) {
                continue;
            }
            String gateway = gateways.get(node.name());
            if (!o.path("connected").asBoolean()) {
                problems.add("node/" + node.name() + " -> svc/default/nginx did not connect: " + o.path("detail").asText());
            } else if (!gateway.equals(o.path("sourceSeen").asText())) {
                problems.add("node/" + node.name() + " -> svc/default/nginx: nginx saw " + o.path("sourceSeen").asText()
                        + ", not the node's gateway address " + gateway);
            }
        }
        return problems;
    }

    /** {@code probe ... -o json}, printed; null (and a problem) if it printed no JSON. */
    private com.fasterxml.jackson.databind.JsonNode probeJson(List<String> problems, String... args) {
        String[] all = java.util.stream.Stream.concat(java.util.stream.Stream.of("probe"),
                java.util.stream.Stream.concat(java.util.Arrays.stream(args), java.util.stream.Stream.of("-o", "json"))).toArray(String[]::new);
        String json = captureText(all);
        try {
            return Layout.JSON.readTree(json);
        } catch (IOException e) {
            problems.add("probe printed no JSON: " + json);
            return null;
        }
    }

    /** The walkthrough's command (GNU or busybox wget), with a 3 s timeout and no retries so a blocked fetch ends. */
    static final String WGET_NGINX = "wget -q -T 3 -t 1 -O - nginx | grep title";
    static final String NGINX_TITLE = "<title>Welcome to nginx!</title>";

    record Captured(String text, int rc) {
    }

    /** Runs a verb like {@link #step} (whatever its exit code), printing its output and returning it. */
    private String captureText(String... args) {
        return capture(args).text();
    }

    private Captured capture(String... args) {
        out.println("$ ./localcluster " + String.join(" ", java.util.Arrays.stream(args)
                .map(a -> a.contains(" ") ? "'" + a + "'" : a).toList()));
        var bytes = new java.io.ByteArrayOutputStream();
        var tee = new PrintStream(bytes, true, java.nio.charset.StandardCharsets.UTF_8);
        int rc = LocalCluster.run(args, tee, tee, layout);
        String text = bytes.toString(java.nio.charset.StandardCharsets.UTF_8);
        out.print(text);
        if (rc != 0) {
            out.println("(exit " + rc + ")");
        }
        out.println();
        return new Captured(text, rc);
    }

    /**
     * Waits (up to 30 s) until a probe from {@code from} to the nginx Service connects: the agents program the
     * Service's flows from the EndpointSlice asynchronously, after {@code apply} has returned.
     */
    private void awaitServiceProgrammed(String from, List<String> problems) {
        ClusterState cluster = layout.requireCluster();
        long t0 = System.nanoTime();
        try (KubernetesClient client = Kube.client(cluster.apiUrl())) {
            Probes probes = new Probes(layout);
            var source = probes.endpoint(cluster, client, from);
            var service = probes.destination(cluster, client, "svc/default/nginx", "TCP", 80);
            while (!Probes.probe(source, service, "TCP", 80, 1000).ok()) {
                if (System.nanoTime() - t0 > 30_000_000_000L) {
                    problems.add(from + " could not reach the nginx Service for 30 s");
                    return;
                }
                Procs.sleep(250);
            }
        }
        out.printf("(the Service answers %s after %.1f s)%n", from, (System.nanoTime() - t0) / 1e9);
    }

    /** NS/NAME of the first running pod (by name) labelled app=APP in default. */
    private String firstPod(String app) {
        try (KubernetesClient client = Kube.client(layout.requireCluster().apiUrl())) {
            return "default/" + client.pods().inNamespace("default").withLabel("app", app).list().getItems().stream()
                    .filter(p -> p.getStatus() != null && p.getStatus().getPodIP() != null)
                    .map(p -> p.getMetadata().getName()).sorted().findFirst()
                    .orElseThrow(() -> new IllegalStateException("no running " + app + " pod"));
        }
    }

    private String nginxNode() {
        try (KubernetesClient client = Kube.client(layout.requireCluster().apiUrl())) {
            return client.pods().inNamespace("default").withLabel("app", "nginx").list().getItems().stream()
                    .map(Pod::getSpec).map(s -> s.getNodeName()).filter(n -> n != null).sorted().findFirst().orElse("node1");
        }
    }

    private Map<String, Map<String, Boolean>> matrix() {
        out.println("$ ./localcluster matrix --port 80 -n default");
        try (KubernetesClient client = Kube.client(layout.requireCluster().apiUrl())) {
            var pods = new Probes(layout).runningPods(client, List.of("default"));
            long t0 = System.nanoTime();
            var truth = Probes.truth(Probes.matrix(pods, "TCP", 80, 1000));
            out.printf("TCP/80 reachability, %d pods, %d probes in %.2f s%n", pods.size(), pods.size() * (pods.size() - 1),
                    (System.nanoTime() - t0) / 1e9);
            out.print(Probes.table(truth));
            out.println();
            return truth;
        }
    }

    private void save(Path file, Object value) {
        try {
            Files.writeString(file, Serialization.asJson(value));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void say(String text) {
        out.println();
        out.println("# " + text.replace("\n", "\n# "));
    }

    private void show(Path file) {
        out.println("$ cat " + file.getFileName());
        try {
            out.print(Files.readString(file));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void step(String... args) {
        out.println("$ ./localcluster " + String.join(" ", args));
        int rc = LocalCluster.run(args, out, out, layout);
        if (rc != 0 && !args[0].equals("antctl")) {
            throw new IllegalStateException("demo step failed: " + String.join(" ", args));
        }
        out.println();
    }
}
