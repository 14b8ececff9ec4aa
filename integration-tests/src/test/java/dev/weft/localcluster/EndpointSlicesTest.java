package dev.weft.localcluster;

import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServicePortBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.Endpoint;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The EndpointSlice controller's function: Service + pods -> slices. */
class EndpointSlicesTest {

    static Pod pod(String name, String ip, String node, boolean ready, Map<String, String> labels, String portName, int port) {
        var b = new PodBuilder().withNewMetadata().withName(name).withNamespace("default").withUid("uid-" + name).withLabels(labels).endMetadata()
                .withNewSpec().withNodeName(node).addNewContainer().withName("c").withImage("nginx")
                .addNewPort().withName(portName).withContainerPort(port).withProtocol("TCP").endPort()
                .addNewPort().withName("dns").withContainerPort(53).withProtocol("UDP").endPort().endContainer().endSpec();
        if (ip != null) {
            b.withNewStatus().withPhase("Running").withPodIP(ip).addNewCondition().withType("Ready").withStatus(ready ? "True" : "False")
                    .endCondition().endStatus();
        }
        return b.build();
    }

    static Service web() {
        return new ServiceBuilder().withNewMetadata().withName("web").withNamespace("default").withUid("svc-uid").endMetadata()
                .withNewSpec().addToSelector("app", "web").withClusterIP("10.96.0.10")
                .addToPorts(new ServicePortBuilder().withName("http").withPort(80).withProtocol("TCP").withTargetPort(new IntOrString("web")).build())
                .addToPorts(new ServicePortBuilder().withName("dns").withPort(53).withProtocol("UDP").withTargetPort(new IntOrString(53)).build())
                .endSpec().build();
    }

    static Map<String, Boolean> readiness(List<EndpointSlice> slices) {
        return slices.stream().flatMap(s -> s.getEndpoints().stream())
                .collect(Collectors.toMap(e -> e.getAddresses().getFirst(), e -> e.getConditions().getReady()));
    }

    @Test
    void slicesFollowLabelsReadinessAndNamedPortsPerPod() {
        Map<String, String> web = Map.of("app", "web");
        List<Pod> pods = List.of(
                pod("a", "10.10.1.2", "node1", true, web, "web", 8080),
                pod("b", "10.10.2.2", "node2", true, web, "web", 8080),
                pod("c", "10.10.3.2", "node3", true, web, "web", 9090),      // the name resolves to another number
                pod("d", "10.10.1.3", "node1", false, web, "web", 8080),     // not ready
                pod("e", null, "node1", true, web, "web", 8080),             // no IP yet
                pod("f", "10.10.1.4", "node1", true, Map.of("app", "db"), "web", 8080)); // not selected
        List<EndpointSlice> slices = EndpointSlices.desired(web(), pods);
        assertEquals(2, slices.size(), "one slice per resolved port set");
        for (EndpointSlice s : slices) {
            assertEquals("web", s.getMetadata().getLabels().get("kubernetes.io/service-name"));
            assertEquals(EndpointSlices.MANAGED_BY, s.getMetadata().getLabels().get(EndpointSlices.MANAGED_BY_LABEL));
            assertEquals("IPv4", s.getAddressType());
            assertEquals("svc-uid", s.getMetadata().getOwnerReferences().getFirst().getUid());
            assertTrue(s.getMetadata().getName().startsWith("web-"), s.getMetadata().getName());
        }
        EndpointSlice p8080 = slices.stream().filter(s -> s.getPorts().stream().anyMatch(p -> p.getPort() == 8080)).findFirst().orElseThrow();
        assertEquals(List.of("http:8080/TCP", "dns:53/UDP"), p8080.getPorts().stream().map(p -> p.getName() + ":" + p.getPort() + "/" + p.getProtocol()).toList());
        assertEquals(List.of("10.10.1.2", "10.10.2.2", "10.10.1.3"), p8080.getEndpoints().stream().map(e -> e.getAddresses().getFirst()).toList());
        Endpoint d = p8080.getEndpoints().get(2);
        assertFalse(d.getConditions().getReady());
        assertFalse(d.getConditions().getServing());
        assertFalse(d.getConditions().getTerminating());
        assertEquals("node1", d.getNodeName());
        assertEquals("d", d.getTargetRef().getName());
        EndpointSlice p9090 = slices.stream().filter(s -> s != p8080).findFirst().orElseThrow();
        assertEquals(List.of(9090, 53), p9090.getPorts().stream().map(p -> p.getPort()).toList());
        assertEquals(Map.of("10.10.3.2", true), readiness(List.of(p9090)));
    }

    @Test
    void terminatingPodsAreNotReadyAndPublishNotReadyAddressesOverridesReadiness() {
        Pod going = pod("a", "10.10.1.2", "node1", true, Map.of("app", "web"), "web", 8080);
        going.getMetadata().setDeletionTimestamp("2026-01-01T00:00:00Z");
        Pod unready = pod("b", "10.10.1.3", "node1", false, Map.of("app", "web"), "web", 8080);
        Endpoint e = EndpointSlices.desired(web(), List.of(going)).getFirst().getEndpoints().getFirst();
        assertFalse(e.getConditions().getReady());
        assertTrue(e.getConditions().getServing());
        assertTrue(e.getConditions().getTerminating());
        Service publish = web();
        publish.getSpec().setPublishNotReadyAddresses(true);
        assertEquals(Map.of("10.10.1.3", true), readiness(EndpointSlices.desired(publish, List.of(unready))));
    }

    @Test
    void noPodsGiveOneEmptySliceAndNoSelectorGivesNone() {
        List<EndpointSlice> empty = EndpointSlices.desired(web(), List.of());
        assertEquals(1, empty.size());
        assertTrue(empty.getFirst().getEndpoints().isEmpty());
        Service manual = web();
        manual.getSpec().setSelector(null);
        assertTrue(EndpointSlices.desired(manual, List.of(pod("a", "10.10.1.2", "node1", true, Map.of("app", "web"), "web", 80))).isEmpty());
        // A pod lacking the named port still serves the numbered one; a pod serving none of the ports is left out.
        Service httpOnly = web();
        httpOnly.getSpec().setPorts(List.of(httpOnly.getSpec().getPorts().getFirst()));
        Pod other = pod("z", "10.10.1.9", "node1", true, Map.of("app", "web"), "other", 80);
        assertTrue(EndpointSlices.desired(httpOnly, List.of(other)).getFirst().getEndpoints().isEmpty());
        assertEquals(List.of(53), EndpointSlices.desired(web(), List.of(other)).getFirst().getPorts().stream().map(p -> p.getPort()).toList());
    }

    @Test
    void manyPodsAreSplitIntoSlicesOfAtMostAHundredAndTheResultIsStable() {
        // Property-style: random pod sets (fixed seed); every ready selected pod appears exactly once, slices <= 100,
        // and the same input (in another order) gives equal slices, so the controller does not rewrite them.
        Random random = new Random(13);
        for (int round = 0; round < 20; round++) {
            int n = random.nextInt(350);
            List<Pod> pods = new ArrayList<>();
            int selected = 0;
            for (int i = 0; i < n; i++) {
                boolean sel = random.nextInt(4) != 0;
                selected += sel ? 1 : 0;
                pods.add(pod("p" + i, "10.10." + (i / 250) + "." + (i % 250 + 2), "node" + (i % 3 + 1), random.nextBoolean(),
                        Map.of("app", sel ? "web" : "db"), "web", 8080));
            }
            List<EndpointSlice> slices = EndpointSlices.desired(web(), pods);
            assertTrue(slices.stream().allMatch(s -> s.getEndpoints().size() <= EndpointSlices.MAX_ENDPOINTS));
            assertEquals(selected, slices.stream().mapToInt(s -> s.getEndpoints().size()).sum());
            List<Pod> shuffled = new ArrayList<>(pods);
            java.util.Collections.shuffle(shuffled, random);
            List<EndpointSlice> again = EndpointSlices.desired(web(), shuffled);
            assertEquals(slices.size(), again.size());
            for (int i = 0; i < slices.size(); i++) {
                assertEquals(slices.get(i).getMetadata().getName(), again.get(i).getMetadata().getName());
                assertTrue(EndpointSlices.same(slices.get(i), again.get(i)));
            }
        }
    }

    @Test
    void hostsFilesNameServicesAsClusterDnsWould() {
        Service other = new ServiceBuilder(web()).editMetadata().withNamespace("x").withName("db").endMetadata()
                .editSpec().withClusterIP("10.96.0.11").endSpec().build();
        Service headless = new ServiceBuilder(web()).editMetadata().withName("h").endMetadata().editSpec().withClusterIP("None").endSpec().build();
        String hosts = PodHosts.render("default", "client", "10.10.1.5", List.of(other, web(), headless));
        assertTrue(hosts.contains("10.10.1.5\tclient\n"), hosts);
        assertTrue(hosts.contains("10.96.0.10\tweb web.default web.default.svc web.default.svc.cluster.local\n"), hosts);
        assertTrue(hosts.contains("10.96.0.11\tdb.x db.x.svc db.x.svc.cluster.local\n"), "no short name across namespaces:\n" + hosts);
        assertFalse(hosts.contains("None"), hosts);
    }
}
