package dev.weft.agent.cni;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.weft.agent.ipam.NodeIpAllocator;
import dev.weft.agent.node.PersistentPodInterfaceStore;
import dev.weft.agent.ovsdb.OvsdbClient;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * CNI GC (spec 1.1) through the real shim process, and the agent's periodic lease GC, against the running agent with
 * real network namespaces, real Open vSwitch and the Kubernetes test server: attachments not in the valid list are
 * released (lease, OVS port, host interface, stored state) unless the API still has their pod on this node; a bad
 * valid list releases nothing.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@QuarkusTestResource(value = CniTestEnvironment.class, restrictToAnnotatedClass = true)
class CniGcTest {

    @Inject
    CniAgent agent;

    @Inject
    NodeIpAllocator ipam;

    @Inject
    OvsdbClient ovsdb;

    @Inject
    PersistentPodInterfaceStore store;

    @Inject
    AttachmentGc gc;

    @Inject
    KubernetesClient kubernetes;

    @BeforeEach
    void nodeNetworkIsUp() {
        await().atMost(Duration.ofSeconds(30)).until(() -> agent.notReadyReason() == null);
    }

    private void createApiPod(String name) {
        kubernetes.pods().inNamespace("default").resource(new PodBuilder().withNewMetadata().withNamespace("default")
                .withName(name).endMetadata().withNewSpec().withNodeName("test-node").addNewContainer().withName("c")
                .withImage("busybox").endContainer().endSpec().build()).create();
    }

    private static String gcConfig(String pluginConfig, List<String[]> valid) throws Exception {
        ObjectNode config = (ObjectNode) ShimTest.JSON.readTree(pluginConfig);
        ArrayNode list = config.putArray(GcInvocation.VALID_ATTACHMENTS);
        for (String[] a : valid) {
            list.addObject().put("containerID", a[0]).put("ifname", a[1]);
        }
        return ShimTest.JSON.writeValueAsString(config);
    }

    private static ShimProcess.Outcome shimGc(String config) throws Exception {
        return ShimProcess.run(Map.of("CNI_COMMAND", "GC", "CNI_PATH", "/opt/cni/bin"), config);
    }

    private void add(String config, String containerId, PodNetns pod, String podName) throws Exception {
        ShimProcess.Outcome add = ShimProcess.run(ShimProcess.env("ADD", containerId, pod.path(), "eth0", "default", podName), config);
        assertEquals(0, add.exit(), add.stdout() + add.stderr());
    }

    private boolean attached(String containerId) throws Exception {
        boolean lease = ipam.lease(containerId, "eth0").isPresent();
        boolean port = ovsdb.getPort(PodNetworkService.hostIfName(containerId, "eth0")).isPresent();
        boolean stored = store.byAttachment(containerId, "eth0").isPresent();
        assertEquals(lease, port, containerId + ": lease and OVS port go together");
        assertEquals(lease, stored, containerId + ": lease and stored attachment go together");
        return lease;
    }

    @Test
    void gcThroughTheShimReleasesWhatIsNotValidUnlessItsPodIsAlive() throws Exception {
        String config = ShimTest.pluginConfig();
        assertEquals("1.1.0", ShimTest.JSON.readTree(config).get("cniVersion").asText(), "runtimes call GC for 1.1.0 only");
        createApiPod("gc-alive");
        List<PodNetns> netns = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                netns.add(new PodNetns());
            }
            add(config, "ctr-gc-alive", netns.get(0), "gc-alive");      // pod in the API, not in the valid list
            add(config, "ctr-gc-leaked", netns.get(1), "gc-leaked");    // pod gone, not in the valid list
            add(config, "ctr-gc-valid", netns.get(2), "gc-valid");      // pod gone, but the runtime says valid
            String leakedHost = PodNetworkService.hostIfName("ctr-gc-leaked", "eth0");

            // A malformed valid list is rejected whole: nothing released.
            String noIfname = gcConfig(config, List.of()).replace("[]", "[{\"containerID\":\"ctr-gc-valid\"}]");
            ShimProcess.Outcome bad = shimGc(noIfname);
            assertEquals(1, bad.exit(), bad.stdout());
            JsonNode err = ShimTest.JSON.readTree(bad.stdout());
            assertEquals(7, err.get("code").asInt(), bad.stdout());
            assertTrue(err.get("msg").asText().contains("cni.dev/valid-attachments[0]"), bad.stdout());
            ShimProcess.Outcome missing = shimGc(config);
            assertEquals(1, missing.exit(), missing.stdout());
            assertTrue(missing.stdout().contains("GC needs cni.dev/valid-attachments"), missing.stdout());
            assertTrue(attached("ctr-gc-alive") && attached("ctr-gc-leaked") && attached("ctr-gc-valid"));

            ShimProcess.Outcome ok = shimGc(gcConfig(config, List.<String[]>of(new String[]{"ctr-gc-valid", "eth0"})));
            assertEquals(0, ok.exit(), ok.stdout() + ok.stderr());
            assertEquals("", ok.stdout().trim(), "GC prints nothing on success");
            assertFalse(attached("ctr-gc-leaked"), "not valid and its pod is gone: released");
            assertTrue(PodNetns.run("ip", "-n", CniTestEnvironment.ovs.netns, "-o", "link").lines()
                    .noneMatch(l -> l.contains(leakedHost)), "host end of the leaked attachment removed");
            assertTrue(attached("ctr-gc-alive"), "its pod is in the API on this node: never released");
            assertTrue(attached("ctr-gc-valid"), "in the valid list: kept");
            // GC is idempotent.
            assertEquals(0, shimGc(gcConfig(config, List.<String[]>of(new String[]{"ctr-gc-valid", "eth0"}))).exit());
            assertTrue(attached("ctr-gc-alive") && attached("ctr-gc-valid"));
        } finally {
            for (String c : List.of("ctr-gc-alive", "ctr-gc-leaked", "ctr-gc-valid")) {
                ShimProcess.run(ShimProcess.env("DEL", c, "", "eth0", "default", "x"), config);
            }
            kubernetes.pods().inNamespace("default").withName("gc-alive").delete();
            netns.forEach(PodNetns::close);
        }
    }

    @Test
    void periodicSweepReleasesWhatTheApiNoLongerHasAfterTwoRounds() throws Exception {
        String config = ShimTest.pluginConfig();
        createApiPod("sweep-alive");
        createApiPod("sweep-deleted");
        try (PodNetns alive = new PodNetns(); PodNetns deleted = new PodNetns()) {
            add(config, "ctr-sweep-alive", alive, "sweep-alive");
            add(config, "ctr-sweep-deleted", deleted, "sweep-deleted");
            // A lease without OVS port (e.g. a crash between steps of an ADD long ago), its pod unknown to the API.
            ipam.allocate("ctr-sweep-lease-only", "eth0", "default", "sweep-never-existed");

            assertTrue(gc.sweep().released().isEmpty(), "first sight of a dead attachment only makes it a suspect");
            assertTrue(ipam.lease("ctr-sweep-lease-only", "eth0").isPresent());
            var second = gc.sweep();
            assertEquals(List.of("ctr-sweep-lease-only"), second.released().stream().map(k -> k.id().containerId()).toList());
            assertTrue(ipam.lease("ctr-sweep-lease-only", "eth0").isEmpty());

            // The pod is deleted from the API and the kubelet's DEL never comes: two sweeps later it is released.
            kubernetes.pods().inNamespace("default").withName("sweep-deleted").delete();
            await().atMost(Duration.ofSeconds(10)).until(() -> kubernetes.pods().inNamespace("default").withName("sweep-deleted").get() == null);
            assertTrue(gc.sweep().released().isEmpty());
            assertTrue(attached("ctr-sweep-deleted"));
            assertEquals(List.of("ctr-sweep-deleted"), gc.sweep().released().stream().map(k -> k.id().containerId()).toList());
            assertFalse(attached("ctr-sweep-deleted"));
            assertTrue(attached("ctr-sweep-alive"), "its pod is in the API: never released");
            assertTrue(gc.sweep().released().isEmpty());
            assertTrue(attached("ctr-sweep-alive"));
        } finally {
            for (String c : List.of("ctr-sweep-alive", "ctr-sweep-deleted")) {
                ShimProcess.run(ShimProcess.env("DEL", c, "", "eth0", "default", "x"), config);
            }
            ipam.release("ctr-sweep-lease-only", "eth0");
            kubernetes.pods().inNamespace("default").withName("sweep-alive").delete();
        }
    }
}
