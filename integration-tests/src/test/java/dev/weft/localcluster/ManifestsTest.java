package dev.weft.localcluster;

import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
                kind: Service
                metadata:
                  name: s
                """);
        UserError e = assertThrows(UserError.class, () -> Manifests.load(client, List.of(bad.toString())));
        assertTrue(e.getMessage().contains("kind Service is not supported"), e.getMessage());
        assertNull(client.namespaces().withName("m2").get());

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
            assertEquals(1, Manifests.load(client, List.of(f.toString())).size(), m);
        }
        for (var c : Conformance.cases()) {
            Path f = write(c.name() + ".yaml", c.yaml());
            assertEquals(1, Manifests.load(client, List.of(f.toString())).size(), c.name());
        }
        assertEquals(12, Manifests.load(client, List.of(write("xyz.yaml", Conformance.podsXyz()).toString())).size());
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
