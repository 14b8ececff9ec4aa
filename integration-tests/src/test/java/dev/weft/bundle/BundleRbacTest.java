package dev.weft.bundle;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
 * <p>
 * Object names come from configuration, which the tests set their own way (a Lease per test): requests are matched
 * to rules regardless of resourceNames, and every name a rule restricts to must be one the service is configured
 * with in the bundle (its container's environment, or its application.properties outside tests).
 */
class BundleRbacTest {

    /**
     * Permissions the code needs on paths no test of its module reaches, each with where the code needs it. The only
     * hand-written part: an entry whose permission is used by a test request after all, or no longer granted, fails.
     */
    static final Map<String, String> NEEDED_BUT_UNTESTED = Map.of(
            "ipam-service: get nodes", "PodCidrController re-reads a Node after a conflicting update or status update (HTTP 409)");

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
                if (!rbac.allows(r, false)) {
                    problems.add(service.module() + " (ServiceAccount " + account + ") makes '" + r.describe()
                            + "', which the bundle's RBAC does not allow; request: " + r.line());
                }
            }
            Set<String> configured = configuredValues(bundle, service);
            for (Rbac.Permission p : rbac.permissions()) {
                if (p.resourceName() != null && !configured.contains(p.resourceName())) {
                    problems.add("ServiceAccount " + account + " may '" + p.describe() + "', but " + service.module()
                            + " is configured with no object named " + p.resourceName());
                }
                boolean used = requests.stream().anyMatch(r -> p.covers(r, false));
                String exception = service.module() + ": " + p.what();
                if (!used && !NEEDED_BUT_UNTESTED.containsKey(exception)) {
                    problems.add("ServiceAccount " + account + " may '" + p.describe() + "', which no request of "
                            + service.module() + "'s tests needs");
                } else if (used && NEEDED_BUT_UNTESTED.containsKey(exception)) {
                    problems.add("'" + exception + "' is listed as needed but untested, and a test request uses it: remove the entry");
                }
            }
            System.out.println("RBAC " + service.module() + ": " + new TreeSet<>(requests.stream().map(r -> r.describe(false)).toList()));
        }
        for (String exception : NEEDED_BUT_UNTESTED.keySet()) {
            String module = exception.substring(0, exception.indexOf(':'));
            Bundle.Workload w = bundle.workload(Bundle.SERVICES.stream().filter(s -> s.module().equals(module)).findFirst()
                    .orElseThrow().workload());
            if (Rbac.of(bundle, w.namespace(), w.serviceAccount()).permissions().stream()
                    .noneMatch(p -> (module + ": " + p.what()).equals(exception))) {
                problems.add("'" + exception + "' is listed as needed but untested, and the bundle does not grant it: remove the entry");
            }
        }
        assertEquals(List.of(), problems, String.join("\n", problems) + "\n(the logs are those of each module's last test "
                + "run; one of a partial run, -Dtest=..., lacks requests: run the module's whole suite)");
    }

    /** Every value the service is configured with in the bundle: its env values and its non-test properties. */
    static Set<String> configuredValues(Bundle bundle, Bundle.ServiceModule service) throws IOException {
        Set<String> values = new TreeSet<>();
        bundle.workload(service.workload()).containers().filter(c -> c.getName().equals(service.container()))
                .flatMap(c -> c.getEnv().stream()).map(e -> e.getValue()).filter(v -> v != null).forEach(values::add);
        for (String line : Files.readAllLines(Bundle.REPO.resolve(service.module()).resolve("src/main/resources/application.properties"))) {
            String l = line.strip();
            if (!l.startsWith("#") && !l.startsWith("%") && l.contains("=")) {
                values.add(l.substring(l.indexOf('=') + 1).strip());
            }
        }
        return values;
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
        // every Service's EndpointSlices: the agent serves Services in the datapath
        assertTrue(agent.allows(ApiRequest.parse("GET", "/apis/discovery.k8s.io/v1/endpointslices?watch=true", "")));
        assertFalse(agent.allows(ApiRequest.parse("POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", "")));
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
