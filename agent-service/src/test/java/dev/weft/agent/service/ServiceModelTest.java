package dev.weft.agent.service;

import dev.weft.agent.host.NodePortSteering;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Services and EndpointSlices to the Service ports a node serves. */
class ServiceModelTest {

    static Service service(String name, String ip, String itp, Object... ports) {
        ServiceBuilder b = new ServiceBuilder().withNewMetadata().withNamespace("default").withName(name).endMetadata()
                .withNewSpec().withClusterIP(ip).withClusterIPs(ip).withInternalTrafficPolicy(itp).endSpec();
        for (int i = 0; i < ports.length; i += 4) {
            b.editSpec().addNewPort().withName((String) ports[i]).withProtocol((String) ports[i + 1])
                    .withPort((Integer) ports[i + 2]).withTargetPort(new IntOrString(ports[i + 3])).endPort().endSpec();
        }
        return b.build();
    }

    /** endpoints: ip, node, ready, terminating (4 values each); ports: name, protocol, port (3 each). */
    static EndpointSlice slice(String service, String name, Object[] endpoints, Object... ports) {
        EndpointSliceBuilder b = new EndpointSliceBuilder().withNewMetadata().withNamespace("default").withName(name)
                .addToLabels(ServiceModel.SERVICE_NAME_LABEL, service).endMetadata().withAddressType("IPv4");
        for (int i = 0; i < endpoints.length; i += 4) {
            b.addNewEndpoint().withAddresses((String) endpoints[i]).withNodeName((String) endpoints[i + 1])
                    .withNewConditions().withReady((Boolean) endpoints[i + 2]).withTerminating((Boolean) endpoints[i + 3])
                    .endConditions().endEndpoint();
        }
        for (int i = 0; i < ports.length; i += 3) {
            b.addNewPort().withName((String) ports[i]).withProtocol((String) ports[i + 1]).withPort((Integer) ports[i + 2]).endPort();
        }
        return b.build();
    }

    static ServicePortKey key(String ip, ServicePortKey.Protocol p, int port) {
        return new ServicePortKey(ip, p, port);
    }

    @Test
    void targetPortByNameIsResolvedPerSliceAndOnlyReadyEndpointsServe() {
        Service web = service("web", "10.96.0.20", null, "http", "TCP", 80, "web", "dns", "UDP", 53, 5353);
        // two slices: the pods of one name the port 8080, those of the other 9090
        EndpointSlice a = slice("web", "web-a", new Object[]{"10.10.1.6", "n1", true, false, "10.10.1.7", "n1", false, false,
                "10.10.1.8", "n1", true, true}, "http", "TCP", 8080, "dns", "UDP", 5353);
        EndpointSlice b = slice("web", "web-b", new Object[]{"10.10.2.6", "n2", null, null}, "http", "TCP", 9090);
        Map<ServicePortKey, ServicePort> m = ServiceModel.resolve(List.of(web), List.of(a, b), "n1");
        assertEquals(List.of(new ServiceEndpoint("10.10.1.6", 8080), new ServiceEndpoint("10.10.2.6", 9090)),
                m.get(key("10.96.0.20", ServicePortKey.Protocol.TCP, 80)).endpoints(),
                "ready only (unset counts as ready), not terminating; each slice's own port number");
        assertEquals(List.of(new ServiceEndpoint("10.10.1.6", 5353)), m.get(key("10.96.0.20", ServicePortKey.Protocol.UDP, 53)).endpoints());
        assertEquals(2, m.size());
    }

    @Test
    void internalTrafficPolicyLocalKeepsThisNodesEndpoints() {
        Service local = service("local", "10.96.0.21", "Local", "", "TCP", 80, 8080);
        EndpointSlice s = slice("local", "local-a", new Object[]{"10.10.1.6", "n1", true, false, "10.10.2.6", "n2", true, false},
                "", "TCP", 8080);
        assertEquals(List.of(new ServiceEndpoint("10.10.1.6", 8080)),
                ServiceModel.resolve(List.of(local), List.of(s), "n1").get(key("10.96.0.21", ServicePortKey.Protocol.TCP, 80)).endpoints());
        assertEquals(List.of(new ServiceEndpoint("10.10.2.6", 8080)),
                ServiceModel.resolve(List.of(local), List.of(s), "n2").get(key("10.96.0.21", ServicePortKey.Protocol.TCP, 80)).endpoints());
    }

    @Test
    void headlessAndExternalNameAreNotServedTheKubernetesServiceIs() {
        Service headless = service("db", "None", null, "", "TCP", 5432, 5432);
        Service external = new ServiceBuilder(service("ext", "10.96.0.30", null, "", "TCP", 80, 80)).editSpec()
                .withType("ExternalName").withExternalName("example.org").endSpec().build();
        Service api = new ServiceBuilder(service("kubernetes", "10.96.0.1", null, "https", "TCP", 443, 6443)).build();
        EndpointSlice apiSlice = slice("kubernetes", "kubernetes", new Object[]{"192.168.77.1", null, true, false},
                "https", "TCP", 6443);
        Map<ServicePortKey, ServicePort> m = ServiceModel.resolve(List.of(headless, external, api), List.of(apiSlice), "n1");
        assertEquals(Map.of(key("10.96.0.1", ServicePortKey.Protocol.TCP, 443), new ServicePort(key("10.96.0.1",
                ServicePortKey.Protocol.TCP, 443), "default/kubernetes", "https", List.of(new ServiceEndpoint("192.168.77.1", 6443)))), m);
    }

    @Test
    void aServiceWithoutEndpointsIsServedToRejectAndSctpIsAProtocol() {
        Service s = service("s", "10.96.0.40", null, "a", "SCTP", 9999, 9999);
        ServicePort p = ServiceModel.resolve(List.of(s), List.of(), "n1").get(key("10.96.0.40", ServicePortKey.Protocol.SCTP, 9999));
        assertTrue(p.endpoints().isEmpty());
    }

    @Test
    void nodePortsAreServicePortsOnTheVirtualAddressesLocalOnlyWithExternalTrafficPolicyLocal() {
        Service cluster = new ServiceBuilder(service("web", "10.96.0.50", "Local", "http", "TCP", 80, 8080, "dns", "UDP", 53, 53))
                .editSpec().withType("NodePort").editPort(0).withNodePort(30080).endPort().editPort(1).withNodePort(30053).endPort()
                .endSpec().build();
        Service local = new ServiceBuilder(service("lb", "10.96.0.51", null, "http", "TCP", 80, 8080))
                .editSpec().withType("LoadBalancer").withExternalTrafficPolicy("Local").editPort(0).withNodePort(31000).endPort()
                .endSpec().build();
        Service clusterIpOnly = new ServiceBuilder(service("cip", "10.96.0.52", null, "http", "TCP", 80, 8080))
                .editSpec().editPort(0).withNodePort(31500).endPort().endSpec().build();
        Object[] eps = {"10.10.1.6", "n1", true, false, "10.10.2.6", "n2", true, false};
        List<EndpointSlice> slices = List.of(slice("web", "web-a", eps, "http", "TCP", 8080, "dns", "UDP", 53),
                slice("lb", "lb-a", eps, "http", "TCP", 8080));
        Map<ServicePortKey, ServicePort> m = ServiceModel.resolve(List.of(cluster, local, clusterIpOnly), slices, "n1");
        List<ServiceEndpoint> both = List.of(new ServiceEndpoint("10.10.1.6", 8080), new ServiceEndpoint("10.10.2.6", 8080));
        assertEquals(List.of(new ServiceEndpoint("10.10.1.6", 8080)), m.get(key("10.96.0.50", ServicePortKey.Protocol.TCP, 80)).endpoints(),
                "the ClusterIP follows internalTrafficPolicy Local");
        assertEquals(both, m.get(key(NodePortSteering.CLUSTER_VIP, ServicePortKey.Protocol.TCP, 30080)).endpoints(),
                "the node port: every endpoint, whatever the internal policy");
        assertEquals(List.of(new ServiceEndpoint("10.10.2.6", 53), new ServiceEndpoint("10.10.1.6", 53)).stream().sorted().toList(),
                m.get(key(NodePortSteering.CLUSTER_VIP, ServicePortKey.Protocol.UDP, 30053)).endpoints());
        assertEquals(both, m.get(key(NodePortSteering.CLUSTER_VIP, ServicePortKey.Protocol.TCP, 31000)).endpoints());
        assertEquals(List.of(new ServiceEndpoint("10.10.1.6", 8080)), m.get(key(NodePortSteering.LOCAL_VIP, ServicePortKey.Protocol.TCP, 31000)).endpoints(),
                "externalTrafficPolicy Local: this node's endpoints");
        assertTrue(m.keySet().stream().noneMatch(k -> k.port() == 31500), "a ClusterIP Service's nodePort field is ignored");
        assertEquals(2 + 2 + 1 + 2 + 1, m.size());
        assertEquals(List.of(new NodePortSteering.NodePort("tcp", 30080, false), new NodePortSteering.NodePort("tcp", 31000, true),
                new NodePortSteering.NodePort("udp", 30053, false)), ServiceModel.nodePorts(m).stream().sorted().toList());
    }

    static Service withAffinity(Service s, String affinity, Integer timeout) {
        ServiceBuilder b = new ServiceBuilder(s).editSpec().withSessionAffinity(affinity).endSpec();
        if (timeout != null) {
            b.editSpec().withNewSessionAffinityConfig().withNewClientIP().withTimeoutSeconds(timeout).endClientIP()
                    .endSessionAffinityConfig().endSpec();
        }
        return b.build();
    }

    @Test
    void clientIpAffinityWithItsTimeoutOnEveryPortNodePortsIncluded() {
        Service web = new ServiceBuilder(service("web", "10.96.0.20", null, "http", "TCP", 80, 8080)).editSpec()
                .withType("NodePort").editFirstPort().withNodePort(30080).endPort().endSpec().build();
        EndpointSlice s = slice("web", "web-a", new Object[]{"10.10.1.6", "n1", true, false}, "http", "TCP", 8080);
        Map<ServicePortKey, ServicePort> m = ServiceModel.resolve(List.of(withAffinity(web, "ClientIP", 600)), List.of(s), "n1");
        assertEquals(2, m.size());
        m.values().forEach(p -> assertEquals(600, p.affinityTimeoutSeconds(), p::toString));
        assertEquals(600, m.get(key(NodePortSteering.CLUSTER_VIP, ServicePortKey.Protocol.TCP, 30080)).affinityTimeoutSeconds());
        // ClientIP without a config: the API server's default, 3 hours; None and unset: no affinity
        assertEquals(10800, ServiceModel.resolve(List.of(withAffinity(web, "ClientIP", null)), List.of(s), "n1")
                .get(key("10.96.0.20", ServicePortKey.Protocol.TCP, 80)).affinityTimeoutSeconds());
        assertEquals(0, ServiceModel.resolve(List.of(withAffinity(web, "None", null)), List.of(s), "n1")
                .get(key("10.96.0.20", ServicePortKey.Protocol.TCP, 80)).affinityTimeoutSeconds());
        assertEquals(0, ServiceModel.resolve(List.of(web), List.of(s), "n1")
                .get(key("10.96.0.20", ServicePortKey.Protocol.TCP, 80)).affinityTimeoutSeconds());
    }

    @Test
    void anUnknownAffinityOrATimeoutOutOfRangeIsNamedAndTheServiceIsNotServedAtAll() {
        Service web = service("web", "10.96.0.20", null, "http", "TCP", 80, 8080, "dns", "UDP", 53, 53);
        Service other = service("other", "10.96.0.21", null, "", "TCP", 80, 8080);
        for (Service bad : List.of(withAffinity(web, "Cookie", null), withAffinity(web, "ClientIP", 0),
                withAffinity(web, "ClientIP", 86401))) {
            var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> ServiceModel.ports(bad, List.of(), "n1"));
            assertTrue(e.getMessage().contains(bad.getSpec().getSessionAffinityConfig() == null
                    ? "spec.sessionAffinity Cookie" : "spec.sessionAffinityConfig.clientIP.timeoutSeconds"), e.getMessage());
            // none of its ports is served (not half applied); the other Services are
            assertEquals(List.of(key("10.96.0.21", ServicePortKey.Protocol.TCP, 80)),
                    List.copyOf(ServiceModel.resolve(List.of(bad, other), List.of(), "n1").keySet()));
        }
        assertEquals(86400, ServiceModel.affinityTimeoutSeconds(withAffinity(web, "ClientIP", 86400)));
        assertEquals(1, ServiceModel.affinityTimeoutSeconds(withAffinity(web, "ClientIP", 1)));
    }
}
