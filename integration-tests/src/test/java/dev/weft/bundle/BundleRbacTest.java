package dev.weft.bundle;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The bundle's RBAC is what the services' code needs, derived from what their tests do: every Kubernetes API request a
 * service made in its module's tests (target/kube-api-requests.tsv, written by kube-api-recorder; test fixtures
 * excluded) is allowed to that service's ServiceAccount, and every permission the bundle grants it is used by at
 * least one of those requests (least privilege). The reactor runs the services' tests before this module.
 */
class BundleRbacTest {

    /** The service's own requests from its module's log, distinct by what RBAC decides on. */
    static List<ApiRequest> serviceRequests(String module) throws IOException {
        Path log = Bundle.REPO.resolve(module).resolve("target/kube-api-requests.tsv");
        if (!Files.exists(log)) {
            fail("no request log " + log + ": run " + module + "'s tests first (./mvnw verify runs them before this module)");
        }
        Map<String, ApiRequest> distinct = new LinkedHashMap<>();
        for (String line : Files.readAllLines(log)) {
            String[] f = line.split("\t");
            if (f.length >= 3 && f[0].equals("service")) {
                ApiRequest r = ApiRequest.parse(f[1], f[2], line);
                distinct.putIfAbsent(r.describe(), r);
            }
        }
        return List.copyOf(distinct.values());
    }

    @Test
    void everyRequestOfEveryServiceIsAllowedAndEveryPermissionIsUsed() throws IOException {
        Bundle bundle = Bundle.load();
        List<String> problems = new ArrayList<>();
        for (Bundle.ServiceModule service : Bundle.SERVICES) {
            Bundle.Workload w = bundle.workload(service.workload());
            String account = w.namespace() + "/" + w.serviceAccount();
            Rbac rbac = Rbac.of(bundle, w.namespace(), w.serviceAccount());
            List<ApiRequest> requests = serviceRequests(service.module());
            assertFalse(requests.isEmpty(), service.module() + "'s tests made no Kubernetes API request");
            for (ApiRequest r : requests) {
                if (!rbac.allows(r)) {
                    problems.add(service.module() + " (ServiceAccount " + account + ") makes '" + r.describe()
                            + "', which the bundle's RBAC does not allow; request: " + r.line());
                }
            }
            for (Rbac.Permission p : rbac.permissions()) {
                if (requests.stream().noneMatch(p::covers)) {
                    problems.add("ServiceAccount " + account + " may '" + p.describe() + "', which no request of "
                            + service.module() + "'s tests needs");
                }
            }
            System.out.println("RBAC " + service.module() + ": " + new TreeSet<>(requests.stream().map(ApiRequest::describe).toList()));
        }
        assertEquals(List.of(), problems, String.join("\n", problems));
    }

    // ------------------------------------------------------------------ the decision itself

    @Test
    void requestsAreDecidedAsTheApiServerDoes() throws IOException {
        Bundle bundle = Bundle.load();
        Rbac ipam = Rbac.of(bundle, "weft-system", "ipam-service");
        assertTrue(ipam.allows(ApiRequest.parse("PUT", "/api/v1/nodes/n1/status", "")));
        assertTrue(ipam.allows(ApiRequest.parse("GET", "/api/v1/nodes?watch=true&resourceVersion=5", "")));
        assertTrue(ipam.allows(ApiRequest.parse("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/weft-ipam", "")));
        assertTrue(ipam.allows(ApiRequest.parse("GET", "/version", "")));
        // resourceNames: another Lease, and the same one elsewhere, are not ipam-service's.
        assertFalse(ipam.allows(ApiRequest.parse("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/other", "")));
        assertFalse(ipam.allows(ApiRequest.parse("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/weft-ipam", "")));
        assertFalse(ipam.allows(ApiRequest.parse("DELETE", "/api/v1/nodes/n1", "")));
        assertFalse(ipam.allows(ApiRequest.parse("PATCH", "/api/v1/nodes/n1/status", "")));
        assertFalse(ipam.allows(ApiRequest.parse("POST", "/api/v1/namespaces/kube-system/events", "")));

        Rbac agent = Rbac.of(bundle, "weft-system", "weft-agent");
        assertTrue(agent.allows(ApiRequest.parse("GET", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn1", "")));
        assertTrue(agent.allows(ApiRequest.parse("GET",
                "/apis/discovery.k8s.io/v1/namespaces/weft-system/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dipam-service", "")));
        assertFalse(agent.allows(ApiRequest.parse("GET", "/apis/discovery.k8s.io/v1/endpointslices", "")));
        assertFalse(agent.allows(ApiRequest.parse("PUT", "/api/v1/nodes/n1", "")));
    }

    @Test
    void aNamespaceIsItsOwnNamespaceAndItsStatusASubresource() {
        ApiRequest get = ApiRequest.parse("GET", "/api/v1/namespaces/default", "");
        assertEquals(List.of("get", "namespaces", "default", "default"), List.of(get.verb(), get.resource(), get.name(), get.namespace()));
        ApiRequest status = ApiRequest.parse("PUT", "/api/v1/namespaces/ns1/status", "");
        assertEquals(List.of("update", "namespaces", "status"), List.of(status.verb(), status.resource(), status.subresource()));
        ApiRequest pods = ApiRequest.parse("GET", "/api/v1/namespaces/ns1/pods?watch=1", "");
        assertEquals(List.of("watch", "pods", "ns1"), List.of(pods.verb(), pods.resource(), pods.namespace()));
    }
}
