package dev.weft.localcluster;

import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.weft.net.IpPrefix;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** apply/delete semantics against the standalone API server. */
class ManifestsTest {
    private static ApiServer apiServer;
    private static KubernetesClient client;
    @TempDir
    Path dir;

    @BeforeAll
    static void start() {
        apiServer = ApiServer.start(0);
        client = apiServer.client();
    }

    @AfterAll
    static void stop() {
        client.close();
        apiServer.close();
    }

    @Test
    void applyCreatesThenReplacesPoliciesEntirelyAndKeepsPodsRunning() throws Exception {
        Path v1 = write("v1.yaml", Conformance.namespace("m1") + Conformance.pod("m1", "a", "node1")
                + Conformance.policy("m1", "p", "podSelector: {}\npolicyTypes: [Ingress, Egress]\n"));
        var applied = Manifests.apply(client, Manifests.load(client, List.of(v1.toString())));
        assertEquals(List.of("namespace/m1 created", "pod/a created", "networkpolicy/p created"),
                applied.stream().map(Manifests.Applied::describe).toList());
        // The kubelet's status must survive a re-apply that changes labels.
        client.pods().inNamespace("m1").withName("a").editStatus(p -> {
            p.setStatus(new PodStatusBuilder().withPhase("Running").withPodIP("10.10.1.5").build());
            return p;
        });
        Path v2 = write("v2.yaml", Conformance.namespace("m1").replace("ns: m1", "ns: m1-new")
                + Conformance.pod("m1", "a", null).replace("pod: a", "pod: a2")
                + Conformance.policy("m1", "p", "podSelector:\n  matchLabels: {pod: a2}\n"));
        applied = Manifests.apply(client, Manifests.load(client, List.of(v2.toString())));
        assertEquals(List.of("namespace/m1 configured", "pod/a configured", "networkpolicy/p configured"),
                applied.stream().map(Manifests.Applied::describe).toList());
        var pod = client.pods().inNamespace("m1").withName("a").get();
        assertEquals("a2", pod.getMetadata().getLabels().get("pod"));
        assertEquals("node1", pod.getSpec().getNodeName());
        assertEquals("10.10.1.5", pod.getStatus().getPodIP());
        var ns = client.namespaces().withName("m1").get();
        assertEquals("m1-new", ns.getMetadata().getLabels().get("ns"));
        assertEquals("m1", ns.getMetadata().getLabels().get(ApiServer.NAMESPACE_NAME_LABEL));
        var np = client.network().v1().networkPolicies().inNamespace("m1").withName("p").get();
        assertNull(np.getSpec().getPolicyTypes().isEmpty() ? null : np.getSpec().getPolicyTypes(), "replaced entirely");
        assertEquals("a2", np.getSpec().getPodSelector().getMatchLabels().get("pod"));
        assertEquals("unchanged", Manifests.apply(client, Manifests.load(client, List.of(v2.toString()))).get(2).action());

        var deleted = Manifests.delete(client, Manifests.load(client, List.of(v2.toString())));
        assertTrue(deleted.contains("networkpolicy/p deleted"), deleted.toString());
        assertNull(client.pods().inNamespace("m1").withName("a").get());
    }

    @Test
    void badInputIsRejectedBeforeAnythingIsWritten() throws Exception {
        Path bad = write("bad.yaml", Conformance.namespace("m2") + """
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: s
                """);
        UserError e = assertThrows(UserError.class, () -> Manifests.load(client, List.of(bad.toString())));
        assertTrue(e.getMessage().contains("kind ConfigMap is not supported"), e.getMessage());
        assertNull(client.namespaces().withName("m2").get());
        Path noSpec = write("nospec.yaml", Conformance.namespace("m2") + "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n");
        e = assertThrows(UserError.class, () -> Manifests.load(client, List.of(noSpec.toString())));
        assertTrue(e.getMessage().contains("(service/s): no spec"), e.getMessage());

        Path missingNs = write("missing.yaml", Conformance.pod("nowhere", "a", null));
        e = assertThrows(UserError.class, () -> Manifests.apply(client, Manifests.load(client, List.of(missingNs.toString()))));
        assertTrue(e.getMessage().contains("namespace nowhere not found"), e.getMessage());

        Path selector = write("selector.yaml", """
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: d}
                spec:
                  selector: {matchLabels: {app: x}}
                  template:
                    metadata: {labels: {app: y}}
                    spec: {containers: [{name: c, image: i}]}
                """);
        e = assertThrows(UserError.class, () -> Manifests.load(client, List.of(selector.toString())));
        assertTrue(e.getMessage().contains("does not match template"), e.getMessage());
        assertThrows(UserError.class, () -> Manifests.load(client, List.of(dir.resolve("absent.yaml").toString())));
    }

    @Test
    void jsonStreamAppliesEveryDocumentAndABrokenOneInTheMiddleAppliesNothing() {
        String ns = "{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"m3\"}}";
        String pod = "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"%s\", \"namespace\": \"m3\"},"
                + " \"spec\": {\"containers\": [{\"name\": \"c\", \"image\": \"i\"}]}}";
        Path broken = write("broken.json", ns + "\n---\n" + pod.formatted("a").replace("\"spec\"", "\"spec\" [") + "\n---\n" + pod.formatted("b"));
        UserError e = assertThrows(UserError.class, () -> Manifests.load(client, List.of(broken.toString())));
        assertTrue(e.getMessage().contains("document 2"), e.getMessage());
        assertNull(client.namespaces().withName("m3").get());

        Path stream = write("stream.json", ns + "\n---\n" + pod.formatted("a") + "\n---\n" + pod.formatted("b") + "\n");
        var applied = Manifests.apply(client, Manifests.load(client, List.of(stream.toString())));
        assertEquals(List.of("namespace/m3 created", "pod/a created", "pod/b created"),
                applied.stream().map(Manifests.Applied::describe).toList());
        assertEquals(2, client.pods().inNamespace("m3").list().getItems().size());
        Manifests.delete(client, Manifests.load(client, List.of(stream.toString())));
    }

    @Test
    void demoManifestsAreValidAndTheConformanceCasesParse() {
        for (String m : Demo.MANIFESTS) {
            Path f = write(m, Verbs.resource("/demo/" + m));
            // the nginx file holds the Deployment and its Service, as the walkthrough's does
            assertEquals(m.startsWith("2-nginx") ? 2 : 1, Manifests.load(client, List.of(f.toString())).size(), m);
        }
        for (var c : Conformance.cases()) {
            Path f = write(c.name() + ".yaml", c.yaml());
            assertEquals(1, Manifests.load(client, List.of(f.toString())).size(), c.name());
        }
        assertEquals(12, Manifests.load(client, List.of(write("xyz.yaml", Conformance.podsXyz()).toString())).size());
    }

    static final String SERVICE = """
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: %s, namespace: %s}
            spec:
              type: %s
              selector: {app: %s}
              ports:
              - {name: http, port: 80, targetPort: 80%s}
            """;

    @Test
    void servicesAreAdmittedAllocatedKeptOnReplaceAndABadOneAppliesNothing() {
        IpPrefix cidr = IpPrefix.parse("10.96.0.0/16");
        Path v1 = write("svc1.yaml", Conformance.namespace("s1") + SERVICE.formatted("web", "s1", "NodePort", "web", "")
                + SERVICE.formatted("api", "s1", "ClusterIP", "api", ""));
        var applied = Manifests.apply(client, Manifests.load(client, List.of(v1.toString())), cidr);
        assertEquals(List.of("namespace/s1 created", "service/web created", "service/api created"),
                applied.stream().map(Manifests.Applied::describe).toList());
        var web = client.services().inNamespace("s1").withName("web").get();
        String ip = web.getSpec().getClusterIP();
        int nodePort = web.getSpec().getPorts().getFirst().getNodePort();
        assertTrue(cidr.contains(dev.weft.net.IpAddress.parse(ip)), ip);
        assertEquals("NodePort", web.getSpec().getType());
        // Applied again: unchanged, same address and node port.
        applied = Manifests.apply(client, Manifests.load(client, List.of(v1.toString())), cidr);
        assertEquals("unchanged", applied.get(1).action());
        assertEquals(ip, client.services().inNamespace("s1").withName("web").get().getSpec().getClusterIP());
        // get svc: kubectl's columns
        var table = Tables.render("services", new java.util.ArrayList<>(client.services().inNamespace("s1").list().getItems()
                .stream().sorted(java.util.Comparator.comparing(x -> x.getMetadata().getName())).toList()), false, false);
        String[] lines = table.split("\n");
        assertTrue(lines[0].matches("NAME\\s+TYPE\\s+CLUSTER-IP\\s+EXTERNAL-IP\\s+PORT\\(S\\)\\s+AGE"), table);
        assertTrue(lines[2].matches("web\\s+NodePort\\s+" + ip.replace(".", "\\.") + "\\s+<none>\\s+80:" + nodePort + "/TCP\\s+\\d+s"), table);
        assertTrue(lines[1].matches("api\\s+ClusterIP\\s+10\\.96\\.\\S+\\s+<none>\\s+80/TCP\\s+\\d+s"), table);
        // A file with a good pod and a Service taking web's node port: refused as a whole, nothing written.
        Path bad = write("svc2.yaml", Conformance.pod("s1", "p", "node1")
                + SERVICE.formatted("clash", "s1", "NodePort", "web", ", nodePort: " + nodePort));
        UserError e = assertThrows(UserError.class, () -> Manifests.apply(client, Manifests.load(client, List.of(bad.toString())), cidr));
        assertTrue(e.getMessage().contains("service/clash: spec.ports[0].nodePort: Invalid value: " + nodePort
                + ": provided port is already allocated (to service s1/web)"), e.getMessage());
        assertNull(client.pods().inNamespace("s1").withName("p").get());
        assertNull(client.services().inNamespace("s1").withName("clash").get());
        Path unknown = write("svc3.yaml", SERVICE.formatted("odd", "s1", "Balanced", "web", ""));
        e = assertThrows(UserError.class, () -> Manifests.apply(client, Manifests.load(client, List.of(unknown.toString())), cidr));
        assertTrue(e.getMessage().contains("spec.type: Unsupported value: \"Balanced\""), e.getMessage());
        var deleted = Manifests.delete(client, Manifests.load(client, List.of(v1.toString())));
        assertTrue(deleted.contains("service/web deleted"), deleted.toString());
    }

    @Test
    void matrixTableAndDemoCheck() {
        var truth = new java.util.LinkedHashMap<String, java.util.Map<String, Boolean>>();
        truth.put("default/busybox-1", new java.util.LinkedHashMap<>(java.util.Map.of("default/nginx-1", true)));
        truth.put("default/nginx-1", new java.util.LinkedHashMap<>(java.util.Map.of("default/busybox-1", false)));
        String table = Probes.table(truth);
        assertTrue(table.contains("default/busybox-1   -   ."), table);
        assertTrue(table.contains("default/nginx-1     X   -"), table);
        assertTrue(Demo.check(truth, truth).stream().anyMatch(p -> p.contains("should be blocked")));
    }

    private Path write(String name, String text) {
        try {
            Path f = dir.resolve(name);
            Files.writeString(f, text);
            return f;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
