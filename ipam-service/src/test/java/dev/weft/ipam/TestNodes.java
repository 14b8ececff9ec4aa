package dev.weft.ipam;

import dev.weft.net.IpPrefix;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/** Nodes in the Kubernetes test server, and the invariant every test checks: no block is given twice. */
final class TestNodes {
    private TestNodes() {
    }

    static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 6);
    }

    static Node create(KubernetesClient k8s, String name, String... podCidrs) {
        NodeBuilder b = new NodeBuilder().withNewMetadata().withName(name).endMetadata();
        if (podCidrs.length > 0) {
            b.withNewSpec().withPodCIDR(podCidrs[0]).withPodCIDRs(podCidrs).endSpec();
        }
        return k8s.nodes().resource(b.build()).create();
    }

    static List<String> podCidrs(KubernetesClient k8s, String name) {
        Node n = k8s.nodes().withName(name).get();
        assertNotNull(n, "Node " + name);
        return n.getSpec() == null || n.getSpec().getPodCIDRs() == null ? List.of() : n.getSpec().getPodCIDRs();
    }

    /** Every pod CIDR written by the allocator (spec.podCIDR == podCIDRs[0]) overlaps no other Node's. */
    static int assertNoBlockGivenTwice(KubernetesClient k8s, List<String> ignoreNodes) {
        List<IpPrefix> all = new ArrayList<>();
        List<String> owners = new ArrayList<>();
        for (Node n : k8s.nodes().list().getItems()) {
            if (ignoreNodes.contains(n.getMetadata().getName()) || n.getSpec() == null) {
                continue;
            }
            List<String> cidrs = n.getSpec().getPodCIDRs();
            if (cidrs != null && !cidrs.isEmpty()) {
                assertEquals(cidrs.getFirst(), n.getSpec().getPodCIDR(), "spec.podCIDR is podCIDRs[0]");
            }
            for (String c : cidrs == null ? List.<String>of() : cidrs) {
                IpPrefix cidr = IpPrefix.parse(c);
                for (int i = 0; i < all.size(); i++) {
                    assertFalse(all.get(i).overlaps(cidr), cidr + " of " + n.getMetadata().getName() + " overlaps "
                            + all.get(i) + " of " + owners.get(i));
                }
                all.add(cidr);
                owners.add(n.getMetadata().getName());
            }
        }
        return all.size();
    }
}
