package dev.weft.localcluster;

import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every shape of manifest file yields every object in it, and a broken document fails the file, named. */
class ManifestDocumentsTest {
    private static final KubernetesSerialization SERIALIZATION = new KubernetesSerialization();

    private static String podJson(String name) {
        return """
                {"apiVersion": "v1", "kind": "Pod",
                 "metadata": {"name": "%s", "labels": {"app": "%s"}},
                 "spec": {"containers": [{"name": "c", "image": "busybox"}]}}""".formatted(name, name);
    }

    private static String podYaml(String name) {
        return """
                apiVersion: v1
                kind: Pod
                metadata:
                  name: %s
                spec:
                  containers: [{name: c, image: busybox}]
                """.formatted(name);
    }

    private static List<String> names(String text) {
        return ManifestDocuments.read("m.yaml", text, SERIALIZATION).stream()
                .map(l -> l.object().getKind() + "/" + l.object().getMetadata().getName()).toList();
    }

    private static String failure(String text) {
        return assertThrows(UserError.class, () -> ManifestDocuments.read("m.yaml", text, SERIALIZATION)).getMessage();
    }

    @Test
    void jsonDocumentsSeparatedByDashesAreAllRead() {
        String stream = podJson("a") + "\n---\n" + podJson("b") + "\n---\n" + podJson("c") + "\n";
        assertEquals(List.of("Pod/a", "Pod/b", "Pod/c"), names(stream));
        HasMetadata b = ManifestDocuments.read("m.yaml", stream, SERIALIZATION).get(1).object();
        assertInstanceOf(Pod.class, b);
        assertEquals("b", b.getMetadata().getLabels().get("app"));
    }

    @Test
    void concatenatedJsonWithoutSeparatorsIsAllRead() {
        assertEquals(List.of("Pod/a", "Pod/b"), names(podJson("a") + "\n" + podJson("b")));
    }

    @Test
    void yamlMultiDocumentWithLeadingSeparatorCommentsAndEmptyDocuments() {
        String text = "# leading comment\n---\n" + podYaml("a") + "---\n# only a comment\n---\n" + podYaml("b")
                + "...\n---\n" + podYaml("c") + "---\n";
        assertEquals(List.of("Pod/a", "Pod/b", "Pod/c"), names(text));
    }

    @Test
    void mixedYamlAndJsonDocuments() {
        assertEquals(List.of("Pod/a", "Pod/b", "Pod/c"), names(podYaml("a") + "---\n" + podJson("b") + "\n--- " + "\n" + podYaml("c")));
    }

    @Test
    void jsonArrayAndListKindsExpandToTheirItems() {
        assertEquals(List.of("Pod/a", "Pod/b"), names("[" + podJson("a") + ",\n" + podJson("b") + "]"));
        String list = """
                apiVersion: v1
                kind: List
                items:
                - apiVersion: v1
                  kind: Namespace
                  metadata: {name: n1}
                - apiVersion: networking.k8s.io/v1
                  kind: NetworkPolicy
                  metadata: {name: p, namespace: n1}
                  spec: {podSelector: {}}
                ---
                """ + podYaml("z");
        var objects = ManifestDocuments.read("m.yaml", list, SERIALIZATION);
        assertEquals(3, objects.size());
        assertInstanceOf(Namespace.class, objects.get(0).object());
        assertInstanceOf(NetworkPolicy.class, objects.get(1).object());
        assertEquals("m.yaml: document 1, item 2 (networkpolicy/p)", objects.get(1).origin());
        assertEquals("m.yaml: document 2 (pod/z)", objects.get(2).origin());
        String podList = """
                {"apiVersion": "v1", "kind": "PodList", "items": [%s, %s]}""".formatted(podJson("x"), podJson("y"));
        assertEquals(List.of("Pod/x", "Pod/y"), names(podList));
    }

    @Test
    void yamlFlowMappingThatLooksLikeJsonIsReadAsYaml() {
        assertEquals(List.of("Pod/f"), names("{apiVersion: v1, kind: Pod, metadata: {name: f}}\n"));
    }

    @Test
    void brokenJsonDocumentInTheMiddleFailsNamingItsIndexAndLine() {
        String text = podJson("a") + "\n---\n" + "{\"apiVersion\": \"v1\", \"kind\": \"Pod\",\n \"metadata\": {\"name\": \"b\"\n" + "\n---\n" + podJson("c");
        String message = failure(text);
        assertTrue(message.startsWith("m.yaml: document 2 (line 5: `{\"apiVersion\": \"v1\", \"kind\": \"Pod\",`) cannot be read at line "),
                message);
        assertTrue(message.contains("expected close marker for Object (start marker at line 6, column 14)"), message);
        assertTrue(!message.contains("Source"), message);
    }

    @Test
    void brokenYamlDocumentInTheMiddleFailsNamingItsIndexAndLine() {
        String text = podYaml("a") + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n---\n" + podYaml("c");
        String message = failure(text);
        assertTrue(message.startsWith("m.yaml: document 2 (line 8: `apiVersion: v1`) cannot be read at line 1"), message);
    }

    @Test
    void unusableObjectsAreNamedByIndexAndKindOrFirstLine() {
        String noKind = failure(podYaml("a") + "---\napiVersion: v1\nmetadata: {name: x}\n");
        assertTrue(noKind.startsWith("m.yaml: document 2 (line 8: `apiVersion: v1`): no kind"), noKind);
        String scalar = failure(podYaml("a") + "---\njust a string\n");
        assertTrue(scalar.contains("document 2") && scalar.contains("not a Kubernetes object"), scalar);
        String noVersion = failure("[" + podJson("a") + ", {\"kind\": \"Pod\", \"metadata\": {\"name\": \"q\"}}]");
        assertEquals("m.yaml: document 1, item 2 (pod/q): no apiVersion", noVersion);
        String badField = failure(podYaml("a") + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec: {containers: 7}\n");
        assertTrue(badField.startsWith("m.yaml: document 2 (pod/b): not a valid Pod"), badField);
        String badItems = failure("apiVersion: v1\nkind: List\nitems: {a: 1}\n");
        assertTrue(badItems.contains("items is not a list"), badItems);
    }
}
