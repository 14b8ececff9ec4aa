package dev.weft.localcluster;

import dev.weft.net.IpAddress;
import dev.weft.net.IpPrefix;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.ServicePortBuilder;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the local cluster's "kube-apiserver" does to Services: defaults, validation, cluster IPs and node ports. */
class ServiceAdmissionTest {
    static final IpPrefix CIDR = IpPrefix.parse("10.96.0.0/16");

    static ServiceBuilder svc(String name, String type, int... ports) {
        var b = new ServiceBuilder().withNewMetadata().withName(name).withNamespace("default").endMetadata()
                .withNewSpec().withType(type).addToSelector("app", name).endSpec();
        for (int i = 0; i < ports.length; i++) {
            b.editSpec().addToPorts(new ServicePortBuilder().withName(ports.length > 1 ? "p" + i : null).withPort(ports[i]).build()).endSpec();
        }
        return b;
    }

    static Service admitOne(List<Service> stored, Service s) {
        return ServiceAdmission.admit(CIDR, stored, List.of(s), new Random(7)).getFirst();
    }

    @Test
    void defaultsLikeTheApiServer() {
        Service s = admitOne(List.of(), svc("web", null, 80).build());
        assertEquals("ClusterIP", s.getSpec().getType());
        assertEquals("TCP", s.getSpec().getPorts().getFirst().getProtocol());
        assertEquals(new IntOrString(80), s.getSpec().getPorts().getFirst().getTargetPort());
        assertEquals("None", s.getSpec().getSessionAffinity());
        assertEquals("Cluster", s.getSpec().getInternalTrafficPolicy());
        assertNull(s.getSpec().getExternalTrafficPolicy());
        assertNull(s.getSpec().getPorts().getFirst().getNodePort());
        assertTrue(CIDR.contains(IpAddress.parse(s.getSpec().getClusterIP())), s.getSpec().getClusterIP());
        assertEquals(List.of(s.getSpec().getClusterIP()), s.getSpec().getClusterIPs());
        assertEquals(List.of("IPv4"), s.getSpec().getIpFamilies());

        assertNull(s.getSpec().getSessionAffinityConfig());
        Service sticky = admitOne(List.of(), svc("web", null, 80).editSpec().withSessionAffinity("ClientIP").endSpec().build());
        assertEquals(10800, sticky.getSpec().getSessionAffinityConfig().getClientIP().getTimeoutSeconds(),
                "ClientIP without a timeout gets the API server's default");
        Service day = admitOne(List.of(), svc("web", null, 80).editSpec().withSessionAffinity("ClientIP")
                .withNewSessionAffinityConfig().withNewClientIP().withTimeoutSeconds(86400).endClientIP()
                .endSessionAffinityConfig().endSpec().build());
        assertEquals(86400, day.getSpec().getSessionAffinityConfig().getClientIP().getTimeoutSeconds());

        Service np = admitOne(List.of(), svc("web", "NodePort", 80).build());
        assertEquals("Cluster", np.getSpec().getExternalTrafficPolicy());
        int nodePort = np.getSpec().getPorts().getFirst().getNodePort();
        assertTrue(nodePort >= 30000 && nodePort <= 32767, "" + nodePort);
    }

    @Test
    void allocatesDistinctAddressesAndNodePortsNeverTheReservedOnes() {
        // A small CIDR fills up: every host address but .0 (network), .1 (kubernetes) and .15 (broadcast).
        IpPrefix small = IpPrefix.parse("10.96.0.0/28");
        Random random = new Random(42);
        List<Service> stored = new ArrayList<>();
        Set<String> ips = new HashSet<>();
        Set<Integer> nodePorts = new HashSet<>();
        for (int i = 0; i < 13; i++) {
            Service s = ServiceAdmission.admit(small, stored, List.of(svc("s" + i, "NodePort", 80, 53).build()), random).getFirst();
            stored.add(s);
            assertTrue(ips.add(s.getSpec().getClusterIP()), "distinct " + s.getSpec().getClusterIP());
            s.getSpec().getPorts().forEach(p -> assertTrue(nodePorts.add(p.getNodePort()), "distinct node port " + p.getNodePort()));
        }
        assertTrue(!ips.contains("10.96.0.0") && !ips.contains("10.96.0.1") && !ips.contains("10.96.0.15"), ips.toString());
        UserError full = assertThrows(UserError.class,
                () -> ServiceAdmission.admit(small, stored, List.of(svc("s13", null, 80).build()), random));
        assertTrue(full.getMessage().contains("no free cluster IP in the service CIDR 10.96.0.0/28"), full.getMessage());
    }

    @Test
    void aReplacedServiceKeepsItsClusterIpAndNodePorts() {
        Service first = admitOne(List.of(), svc("web", "NodePort", 80).build());
        Service again = admitOne(List.of(first), svc("web", "NodePort", 80).build());
        assertEquals(first.getSpec().getClusterIP(), again.getSpec().getClusterIP());
        assertEquals(first.getSpec().getPorts().getFirst().getNodePort(), again.getSpec().getPorts().getFirst().getNodePort());
        // Its own address and node port are free for it, not for others.
        Service explicit = svc("web", "NodePort", 80).editSpec().withClusterIP(first.getSpec().getClusterIP()).endSpec().build();
        assertEquals(first.getSpec().getClusterIP(), admitOne(List.of(first), explicit).getSpec().getClusterIP());
        Service other = svc("other", null, 80).editSpec().withClusterIP(first.getSpec().getClusterIP()).endSpec().build();
        UserError taken = assertThrows(UserError.class, () -> admitOne(List.of(first), other));
        assertTrue(taken.getMessage().contains("already allocated (to service default/web)"), taken.getMessage());
        Service moved = svc("web", null, 80).editSpec().withClusterIP("10.96.9.9").endSpec().build();
        UserError immutable = assertThrows(UserError.class, () -> admitOne(List.of(first), moved));
        assertTrue(immutable.getMessage().contains("field is immutable"), immutable.getMessage());
    }

    @Test
    void refusesBadServicesWithTheFieldInTheMessage() {
        Service web = admitOne(List.of(), svc("web", "NodePort", 80).build());
        int webNodePort = web.getSpec().getPorts().getFirst().getNodePort();
        record Case(Service service, String message) {
        }
        List<Case> cases = List.of(
                new Case(svc("a", "Nodeport", 80).build(), "spec.type: Unsupported value: \"Nodeport\""),
                new Case(svc("a", null, 0).build(), "spec.ports[0].port: Invalid value: 0"),
                new Case(svc("a", null, 70000).build(), "spec.ports[0].port: Invalid value: 70000"),
                new Case(svc("a", null).build(), "spec.ports: Required value"),
                new Case(svc("a", null, 80, 81).editSpec().editFirstPort().withName(null).endPort().endSpec().build(),
                        "spec.ports[0].name: Required value"),
                new Case(svc("a", null, 80, 80).build(), "spec.ports[1]: Duplicate value: port 80/TCP"),
                new Case(svc("a", null, 80).editSpec().editFirstPort().withProtocol("ICMP").endPort().endSpec().build(),
                        "spec.ports[0].protocol: Unsupported value: \"ICMP\""),
                new Case(svc("a", null, 80).editSpec().editFirstPort().withTargetPort(new IntOrString(0)).endPort().endSpec().build(),
                        "spec.ports[0].targetPort: Invalid value: 0"),
                new Case(svc("a", null, 80).editSpec().editFirstPort().withTargetPort(new IntOrString("Not_A_Name")).endPort().endSpec().build(),
                        "spec.ports[0].targetPort: Invalid value: \"Not_A_Name\""),
                new Case(svc("a", null, 80).editSpec().editFirstPort().withNodePort(30080).endPort().endSpec().build(),
                        "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"),
                new Case(svc("a", "NodePort", 80).editSpec().editFirstPort().withNodePort(8080).endPort().endSpec().build(),
                        "The range of valid ports is 30000-32767"),
                new Case(svc("a", "NodePort", 80).editSpec().editFirstPort().withNodePort(webNodePort).endPort().endSpec().build(),
                        "nodePort: Invalid value: " + webNodePort + ": provided port is already allocated (to service default/web)"),
                new Case(svc("a", null, 80).editSpec().withClusterIP("10.97.0.5").endSpec().build(),
                        "provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/16"),
                new Case(svc("a", null, 80).editSpec().withClusterIP("10.96.0.1").endSpec().build(), "reserved for the kubernetes Service"),
                new Case(svc("a", null, 80).editSpec().withClusterIP(web.getSpec().getClusterIP()).endSpec().build(),
                        "provided IP is already allocated (to service default/web)"),
                new Case(svc("a", null, 80).editSpec().withClusterIP("not-an-ip").endSpec().build(), "must be a valid IPv4 address or None"),
                new Case(svc("a", null, 80).editSpec().withExternalTrafficPolicy("Local").endSpec().build(),
                        "may only be set for NodePort and LoadBalancer services"),
                new Case(svc("a", "NodePort", 80).editSpec().withExternalTrafficPolicy("Nearest").endSpec().build(),
                        "spec.externalTrafficPolicy: Unsupported value: \"Nearest\""),
                new Case(svc("a", "NodePort", 80).editSpec().withClusterIP("None").endSpec().build(), "may not be set to 'None' for NodePort"),
                new Case(svc("a", "ExternalName", 80).build(), "spec.externalName: Required value"),
                new Case(svc("a", null, 80).editSpec().withSessionAffinity("Cookie").endSpec().build(),
                        "spec.sessionAffinity: Unsupported value: \"Cookie\""),
                new Case(svc("a", null, 80).editSpec().withSessionAffinity("ClientIP").withNewSessionAffinityConfig()
                        .withNewClientIP().withTimeoutSeconds(0).endClientIP().endSessionAffinityConfig().endSpec().build(),
                        "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0"),
                new Case(svc("a", null, 80).editSpec().withSessionAffinity("ClientIP").withNewSessionAffinityConfig()
                        .withNewClientIP().withTimeoutSeconds(86401).endClientIP().endSessionAffinityConfig().endSpec().build(),
                        "spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401"),
                new Case(svc("a", null, 80).editSpec().withNewSessionAffinityConfig()
                        .withNewClientIP().withTimeoutSeconds(60).endClientIP().endSessionAffinityConfig().endSpec().build(),
                        "spec.sessionAffinityConfig: Invalid value: must not be set when `sessionAffinity` is None"));
        for (Case c : cases) {
            UserError e = assertThrows(UserError.class, () -> admitOne(List.of(web), c.service()), c.message());
            assertTrue(e.getMessage().startsWith("service/a: ") && e.getMessage().contains(c.message()), e.getMessage());
        }
    }

    @Test
    void aBatchIsAdmittedAsAWholeAgainstItself() {
        Service a = svc("a", "NodePort", 80).editSpec().editFirstPort().withNodePort(30080).endPort().endSpec().build();
        Service b = svc("b", "NodePort", 80).editSpec().editFirstPort().withNodePort(30080).endPort().endSpec().build();
        UserError e = assertThrows(UserError.class, () -> ServiceAdmission.admit(CIDR, List.of(), List.of(a, b), new Random(1)));
        assertTrue(e.getMessage().startsWith("service/b:") && e.getMessage().contains("already allocated (to service default/a)"), e.getMessage());
        // The same node port for TCP and UDP of one Service is fine (as upstream), twice for TCP is not.
        Service dns = svc("dns", "NodePort", 53, 53).editSpec().editLastPort().withProtocol("UDP").endPort().endSpec().build();
        dns.getSpec().getPorts().forEach(p -> p.setNodePort(30053));
        List<Service> admitted = ServiceAdmission.admit(CIDR, List.of(), List.of(dns), new Random(1));
        assertEquals(List.of(30053, 30053), admitted.getFirst().getSpec().getPorts().stream().map(p -> p.getNodePort()).toList());
        Service twice = svc("twice", "NodePort", 80, 81).build();
        twice.getSpec().getPorts().forEach(p -> p.setNodePort(30081));
        UserError dup = assertThrows(UserError.class, () -> admitOne(List.of(), twice));
        assertTrue(dup.getMessage().contains("spec.ports[1].nodePort: Duplicate value: 30081"), dup.getMessage());
        // Headless Services get no address and keep "None".
        Service headless = admitOne(List.of(), svc("h", null).editSpec().withClusterIP("None").endSpec().build());
        assertEquals("None", headless.getSpec().getClusterIP());
        assertNotEquals(null, headless.getSpec().getClusterIPs());
    }

    @Test
    void randomAllocationOverManyServicesNeverCollides() {
        // Property-style: 2000 Services with a fixed seed, some removed and re-added, all addresses and node ports distinct.
        Random random = new Random(2026);
        List<Service> stored = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            if (!stored.isEmpty() && random.nextInt(5) == 0) {
                stored.remove(random.nextInt(stored.size()));
            }
            stored.add(ServiceAdmission.admit(CIDR, stored, List.of(svc("s" + i, "NodePort", 80).build()), random).getFirst());
        }
        assertEquals(stored.size(), stored.stream().map(s -> s.getSpec().getClusterIP()).distinct().count());
        assertEquals(stored.size(), stored.stream().map(s -> s.getSpec().getPorts().getFirst().getNodePort()).distinct().count());
    }
}
