package dev.weft.localcluster;

import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The standalone API server adds what a real API server does on top of the fabric8 CRUD server. */
class ApiServerTest {
    private static ApiServer apiServer;
    private static KubernetesClient client;

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
    void builtInNamespacesExistWithTheirNameLabel() {
        for (String name : List.of("default", "kube-system")) {
            Namespace ns = client.namespaces().withName(name).get();
            assertNotNull(ns, name);
            assertEquals(name, ns.getMetadata().getLabels().get(ApiServer.NAMESPACE_NAME_LABEL));
        }
    }

    @Test
    void createdAndReplacedNamespacesGetTheNameLabelAndKeepTheirOwnLabels() {
        client.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("x").addToLabels("team", "a")
                .endMetadata().build()).create();
        Namespace created = client.namespaces().withName("x").get();
        assertEquals("x", created.getMetadata().getLabels().get(ApiServer.NAMESPACE_NAME_LABEL));
        assertEquals("a", created.getMetadata().getLabels().get("team"));
        assertNotNull(created.getMetadata().getUid());
        assertNotNull(created.getMetadata().getCreationTimestamp());

        created.getMetadata().setLabels(new java.util.HashMap<>(java.util.Map.of("team", "b")));
        client.namespaces().resource(created).update();
        Namespace replaced = client.namespaces().withName("x").get();
        assertEquals("x", replaced.getMetadata().getLabels().get(ApiServer.NAMESPACE_NAME_LABEL));
        assertEquals("b", replaced.getMetadata().getLabels().get("team"));
        assertEquals(created.getMetadata().getUid(), replaced.getMetadata().getUid());
    }

    @Test
    void objectsGetUidTimestampGenerationAndIncreasingResourceVersions() {
        Pod first = client.pods().inNamespace("default").resource(pod("p1")).create();
        Pod second = client.pods().inNamespace("default").resource(pod("p2")).create();
        assertNotNull(first.getMetadata().getUid());
        assertNotEquals(first.getMetadata().getUid(), second.getMetadata().getUid());
        assertNotNull(first.getMetadata().getCreationTimestamp());
        assertEquals(1L, first.getMetadata().getGeneration());
        assertTrue(Long.parseLong(second.getMetadata().getResourceVersion()) > Long.parseLong(first.getMetadata().getResourceVersion()));
    }

    @Test
    void podStatusIsWrittenThroughTheStatusSubresource() {
        Pod pod = client.pods().inNamespace("default").resource(pod("status-pod")).create();
        pod.setStatus(new io.fabric8.kubernetes.api.model.PodStatusBuilder().withPhase("Running").withPodIP("10.10.1.2").build());
        client.pods().inNamespace("default").resource(pod).updateStatus();
        Pod read = client.pods().inNamespace("default").withName("status-pod").get();
        assertEquals("Running", read.getStatus().getPhase());
        assertEquals("10.10.1.2", read.getStatus().getPodIP());
    }

    @Test
    void nodesAreClusterScopedAndInformersSeeChanges() {
        List<String> seen = new CopyOnWriteArrayList<>();
        var informer = client.nodes().inform(new ResourceEventHandler<>() {
            @Override
            public void onAdd(Node obj) {
                seen.add("add:" + obj.getMetadata().getName());
            }

            @Override
            public void onUpdate(Node oldObj, Node newObj) {
                seen.add("update:" + newObj.getMetadata().getName() + ":" + newObj.getMetadata().getLabels().get("v"));
            }

            @Override
            public void onDelete(Node obj, boolean deletedFinalStateUnknown) {
                seen.add("delete:" + obj.getMetadata().getName());
            }
        });
        try {
            Node node = client.nodes().resource(new NodeBuilder().withNewMetadata().withName("n1").addToLabels("v", "1").endMetadata()
                    .withNewStatus().addNewAddress().withType("InternalIP").withAddress("192.168.77.11").endAddress().endStatus()
                    .build()).create();
            await().until(() -> seen.contains("add:n1"));
            node.getMetadata().getLabels().put("v", "2");
            client.nodes().resource(node).update();
            await().until(() -> seen.contains("update:n1:2"));
            client.nodes().withName("n1").delete();
            await().until(() -> seen.contains("delete:n1"));
            assertEquals("192.168.77.11", node.getStatus().getAddresses().getFirst().getAddress());
        } finally {
            informer.close();
        }
    }

    @Test
    void discoveryDocumentsAreServedForKubectl() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        for (String path : List.of("/api", "/api/v1", "/apis", "/apis/apps/v1", "/apis/networking.k8s.io/v1", "/version")) {
            HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(apiServer.url() + path)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, response.statusCode(), path);
            assertTrue(response.body().startsWith("{"), path);
        }
        HttpResponse<String> resources = http.send(HttpRequest.newBuilder(URI.create(apiServer.url() + "/apis/networking.k8s.io/v1")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertTrue(resources.body().contains("\"networkpolicies\""));
    }

    private static Pod pod(String name) {
        return new PodBuilder().withNewMetadata().withName(name).withNamespace("default").endMetadata()
                .withNewSpec().addNewContainer().withName("c").withImage("busybox").endContainer().endSpec().build();
    }

    private static String tokenFor(String pod, String uid, String audience) {
        return client.serviceAccounts().inNamespace("default").withName("weft-agent").tokenRequest(
                new io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder().withNewSpec()
                        .withAudiences(audience).withExpirationSeconds(3607L)
                        .withNewBoundObjectRef().withKind("Pod").withApiVersion("v1").withName(pod).withUid(uid).endBoundObjectRef()
                        .endSpec().build()).getStatus().getToken();
    }

    private static io.fabric8.kubernetes.api.model.authentication.TokenReviewStatus review(String token, String audience) {
        return client.authentication().v1().tokenReviews().create(new io.fabric8.kubernetes.api.model.authentication.TokenReviewBuilder()
                .withNewSpec().withToken(token).withAudiences(audience).endSpec().build()).getStatus();
    }

    @Test
    void issuesBoundServiceAccountTokensAndReviewsThemLikeARealApiServer() {
        Pod pod = client.pods().inNamespace("default").resource(new PodBuilder().withNewMetadata().withName("weft-agent-n1").endMetadata()
                .withNewSpec().withServiceAccountName("weft-agent").withNodeName("n1").withHostNetwork(true).endSpec().build()).create();
        String uid = pod.getMetadata().getUid();
        String token = tokenFor("weft-agent-n1", uid, "weft-control-plane");

        var ok = review(token, "weft-control-plane");
        assertEquals(Boolean.TRUE, ok.getAuthenticated(), ok.getError());
        assertEquals("system:serviceaccount:default:weft-agent", ok.getUser().getUsername());
        assertEquals(List.of("weft-agent-n1"), ok.getUser().getExtra().get("authentication.kubernetes.io/pod-name"));
        assertEquals(List.of(uid), ok.getUser().getExtra().get("authentication.kubernetes.io/pod-uid"));
        assertEquals(List.of("n1"), ok.getUser().getExtra().get("authentication.kubernetes.io/node-name"));
        assertEquals(List.of("weft-control-plane"), ok.getAudiences());

        var otherAudience = review(token, "https://kubernetes.default.svc");
        assertEquals(Boolean.FALSE, otherAudience.getAuthenticated());
        assertTrue(otherAudience.getError().contains("is invalid for the target audiences"), otherAudience.getError());
        String[] parts = token.split("\\.");
        String tampered = parts[0] + "." + parts[1].substring(0, parts[1].length() - 2) + "fQ." + parts[2];
        assertEquals("invalid bearer token: signature not made by this API server", review(tampered, "weft-control-plane").getError());
        assertEquals(Boolean.FALSE, review("garbage", "weft-control-plane").getAuthenticated());

        client.pods().inNamespace("default").withName("weft-agent-n1").delete();
        await().until(() -> client.pods().inNamespace("default").withName("weft-agent-n1").get() == null);
        var gone = review(token, "weft-control-plane");
        assertEquals(Boolean.FALSE, gone.getAuthenticated());
        assertTrue(gone.getError().contains("is not found"), gone.getError());
    }
}
