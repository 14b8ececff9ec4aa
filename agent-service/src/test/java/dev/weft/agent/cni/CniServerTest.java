package dev.weft.agent.cni;

import dev.weft.agent.ipam.IpLease;
import dev.weft.agent.ipam.NodeIpAllocator;
import dev.weft.agent.node.PersistentPodInterfaceStore;
import dev.weft.agent.node.PodInterface;
import dev.weft.agent.ovsdb.OvsPort;
import dev.weft.agent.ovsdb.OvsdbClient;
import dev.weft.proto.cni.v1.CniRequest;
import dev.weft.proto.cni.v1.CniResponse;
import dev.weft.proto.cni.v1.CniResult;
import dev.weft.proto.cni.v1.ErrorCode;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The agent's CNI server over its real UNIX socket, with real network namespaces and a real Open vSwitch (in the
 * simulated node's namespace), and the Kubernetes API from the Quarkus test server.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@QuarkusTestResource(value = CniTestEnvironment.class, restrictToAnnotatedClass = true)
class CniServerTest {

    @Inject
    CniAgent agent;

    @Inject
    OvsdbClient ovsdb;

    @Inject
    NodeIpAllocator ipam;

    @Inject
    PersistentPodInterfaceStore store;

    @Inject
    AttachmentReconciler reconciler;

    @Inject
    KubernetesClient kubernetes;

    static CniClient client;

    @BeforeAll
    static void connect() {
        client = new CniClient(CniTestEnvironment.dir.resolve("cni.sock"));
    }

    @AfterAll
    static void disconnect() throws InterruptedException {
        client.close();
    }

    @BeforeEach
    void nodeNetworkIsUp() {
        await().atMost(Duration.ofSeconds(30)).until(() -> agent.notReadyReason() == null);
    }

    private void createApiPod(String ns, String name) {
        kubernetes.pods().inNamespace(ns).resource(new PodBuilder().withNewMetadata().withNamespace(ns).withName(name)
                .endMetadata().withNewSpec().withNodeName("test-node").addNewContainer().withName("c").withImage("busybox")
                .endContainer().endSpec().build()).create();
    }

    @Test
    void gatewayAndConflistAreInstalled() throws Exception {
        OvsPort gw = ovsdb.getPort("gw0").orElseThrow();
        assertEquals("internal", gw.type());
        assertEquals(2, gw.ofport());
        String addr = PodNetns.run("ip", "-n", CniTestEnvironment.ovs.netns, "-o", "addr", "show", "dev", "gw0");
        assertTrue(addr.contains("10.244.7.1/24"), addr);
        String conflist = Files.readString(CniTestEnvironment.dir.resolve("net.d").resolve(CniAgent.CONFLIST));
        assertTrue(conflist.contains("\"type\" : \"weft\""), conflist);
        assertTrue(conflist.contains(CniTestEnvironment.dir.resolve("cni.sock").toString()), conflist);
    }

    @Test
    void addCheckDelRoundTrip() throws Exception {
        try (PodNetns pod = new PodNetns()) {
            CniRequest req = CniClient.request("ctr-roundtrip", pod.path(), "eth0", "default", "web-1", CniClient.CONFIG);
            CniResponse add = client.add(req);
            assertTrue(add.hasResult(), add.toString());
            CniResult r = add.getResult();
            assertEquals("1.0.0", r.getCniVersion());
            String ipCidr = r.getIps(0).getAddress();
            assertTrue(ipCidr.startsWith("10.244.7.") && ipCidr.endsWith("/24"), ipCidr);
            assertEquals("10.244.7.1", r.getIps(0).getGateway());
            String ip = ipCidr.substring(0, ipCidr.indexOf('/'));

            // Inside the pod: eth0 with the address, the MAC from the result, the default route via the gateway.
            assertTrue(pod.exec("ip", "-o", "addr", "show", "dev", "eth0").contains(ipCidr));
            assertTrue(pod.exec("ip", "-o", "link", "show", "dev", "eth0").contains(r.getInterfaces(1).getMac()));
            assertTrue(pod.exec("ip", "route", "show", "default").contains("via 10.244.7.1 dev eth0"));
            assertTrue(pod.exec("ethtool", "-k", "eth0").contains("tx-checksumming: off"));

            // On the bridge: the host end with the pod's identity.
            String host = PodNetworkService.hostIfName("ctr-roundtrip", "eth0");
            OvsPort port = ovsdb.getPort(host).orElseThrow();
            assertEquals("default", port.externalIds().get("weft.dev/pod-namespace"));
            assertEquals("web-1", port.externalIds().get("weft.dev/pod-name"));
            assertEquals(ip, port.externalIds().get("weft.dev/ip"));
            assertTrue(port.ofport() > 0);
            PodInterface stored = store.byPod("default", "web-1").orElseThrow();
            assertEquals(port.ofport(), stored.ofport());
            assertEquals(port.portUuid(), stored.portUuid());
            assertEquals(stored, store.byOfport(port.ofport()).orElseThrow());

            // A retried ADD returns the same attachment.
            assertEquals(ipCidr, client.add(req).getResult().getIps(0).getAddress());
            assertTrue(client.check(req).hasResult());

            // CHECK notices a broken attachment.
            pod.exec("ip", "addr", "flush", "dev", "eth0");
            CniResponse broken = client.check(req);
            assertEquals(ErrorCode.CONFIG_INTERFACE_FAILURE, broken.getError().getCode(), broken.toString());

            CniResponse del = client.del(req);
            assertTrue(del.hasResult(), del.toString());
            assertTrue(ovsdb.getPort(host).isEmpty());
            assertTrue(ipam.lease("ctr-roundtrip", "eth0").isEmpty());
            assertTrue(store.byPod("default", "web-1").isEmpty());
            assertFalse(pod.exec("ip", "-o", "link").contains("eth0"));
            // DEL is idempotent, also without a netns (the runtime may have removed it already).
            assertTrue(client.del(req).hasResult());
            assertTrue(client.del(req.toBuilder().setNetns("").build()).hasResult());
            assertEquals(ErrorCode.UNKNOWN_CONTAINER, client.check(req).getError().getCode());
        }
    }

    @Test
    void invalidInputsGiveSpecErrorCodesAndLeaveNothing() throws Exception {
        try (PodNetns pod = new PodNetns()) {
            int leases = ipam.leases().size();
            Map<ErrorCode, CniRequest> cases = Map.of(
                    ErrorCode.DECODING_FAILURE, CniClient.request("ctr-bad1", pod.path(), "eth0", "d", "p", "{not json"),
                    ErrorCode.INCOMPATIBLE_CNI_VERSION, CniClient.request("ctr-bad2", pod.path(), "eth0", "d", "p",
                            "{\"cniVersion\":\"9.9.9\",\"name\":\"weft\",\"type\":\"weft\"}"),
                    ErrorCode.INVALID_NETWORK_CONFIG, CniClient.request("ctr-bad3", pod.path(), "eth0", "d", "p",
                            "{\"cniVersion\":\"1.0.0\",\"name\":\"weft\",\"type\":\"bridge\"}"),
                    ErrorCode.INVALID_ENVIRONMENT_VARIABLES, CniClient.request("", pod.path(), "eth0", "d", "p", CniClient.CONFIG),
                    ErrorCode.UNKNOWN_CONTAINER, CniClient.request("ctr-bad5", "/var/run/netns/wpod-nonexistent", "eth0", "d", "p",
                            CniClient.CONFIG));
            for (var c : cases.entrySet()) {
                CniResponse resp = client.add(c.getValue());
                assertEquals(c.getKey(), resp.getError().getCode(), resp.toString());
                assertFalse(resp.getError().getMsg().isBlank());
            }
            CniResponse badIf = client.add(CniClient.request("ctr-bad6", pod.path(), "this-name-is-too-long", "d", "p", CniClient.CONFIG));
            assertEquals(ErrorCode.INVALID_ENVIRONMENT_VARIABLES, badIf.getError().getCode());
            assertEquals(leases, ipam.leases().size());
            assertTrue(ovsdb.listPorts(CniTestEnvironment.ovs.bridge).stream().allMatch(p -> p.name().equals("gw0")
                    || !p.externalIds().getOrDefault("weft.dev/container-id", "").startsWith("ctr-bad")));
        }
    }

    @Test
    void failedAddRollsBackEverything() throws Exception {
        try (PodNetns pod = new PodNetns()) {
            // An interface of the requested name already exists in the pod: the veth cannot be created there.
            pod.exec("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "other0");
            int leases = ipam.leases().size();
            CniResponse resp = client.add(CniClient.request("ctr-rollback", pod.path(), "eth0", "d", "rb", CniClient.CONFIG));
            assertEquals(ErrorCode.CONFIG_INTERFACE_FAILURE, resp.getError().getCode(), resp.toString());
            assertEquals(leases, ipam.leases().size());
            assertTrue(ovsdb.getPort(PodNetworkService.hostIfName("ctr-rollback", "eth0")).isEmpty());
            assertTrue(store.byPod("d", "rb").isEmpty());
        }
    }

    @Test
    void hundredPodsConcurrentlyGetDistinctAddressesAndLeaveNoLeak() throws Exception {
        int n = 100;
        List<PodNetns> sandboxes = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(16);
        try {
            for (int i = 0; i < n; i++) {
                sandboxes.add(new PodNetns());
            }
            int before = ipam.leases().size();
            List<Future<CniResponse>> adds = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                CniRequest req = CniClient.request("ctr-many-" + i, sandboxes.get(i).path(), "eth0", "load", "p" + i, CniClient.CONFIG);
                adds.add(pool.submit(() -> client.add(req)));
            }
            Set<String> ips = new HashSet<>();
            Set<Integer> ofports = new HashSet<>();
            for (Future<CniResponse> f : adds) {
                CniResponse r = f.get();
                assertTrue(r.hasResult(), r.toString());
                ips.add(r.getResult().getIps(0).getAddress());
            }
            assertEquals(n, ips.size(), "duplicate addresses");
            for (int i = 0; i < n; i++) {
                ofports.add(store.byPod("load", "p" + i).orElseThrow().ofport());
            }
            assertEquals(n, ofports.size(), "duplicate ofports");
            assertEquals(before + n, ipam.leases().size());

            List<Future<CniResponse>> dels = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                CniRequest req = CniClient.request("ctr-many-" + i, sandboxes.get(i).path(), "eth0", "load", "p" + i, CniClient.CONFIG);
                dels.add(pool.submit(() -> client.del(req)));
            }
            for (Future<CniResponse> f : dels) {
                assertTrue(f.get().hasResult());
            }
            assertEquals(before, ipam.leases().size(), "leaked leases");
            assertTrue(ovsdb.listPorts(CniTestEnvironment.ovs.bridge).stream()
                    .noneMatch(p -> p.externalIds().getOrDefault("weft.dev/container-id", "").startsWith("ctr-many-")), "leaked ports");
        } finally {
            pool.shutdownNow();
            sandboxes.forEach(PodNetns::close);
        }
    }

    @Test
    void leasesSurviveARestartAndReconcileReleasesOnlyDeadPods() throws Exception {
        try (PodNetns alive = new PodNetns(); PodNetns dead = new PodNetns()) {
            createApiPod("rs", "alive");
            CniResponse a = client.add(CniClient.request("ctr-alive", alive.path(), "eth0", "rs", "alive", CniClient.CONFIG));
            CniResponse d = client.add(CniClient.request("ctr-dead", dead.path(), "eth0", "rs", "dead", CniClient.CONFIG));
            assertTrue(a.hasResult() && d.hasResult());

            // What a restarted agent reads back: the same leases.
            NodeIpAllocator reloaded = new NodeIpAllocator(CniTestEnvironment.dir.resolve("state"));
            reloaded.configure(ipam.cidr().orElseThrow());
            assertEquals(Set.copyOf(ipam.leases()), Set.copyOf(reloaded.leases()));
            PersistentPodInterfaceStore reloadedStore = new PersistentPodInterfaceStore(CniTestEnvironment.dir.resolve("state"));
            assertEquals(store.byPod("rs", "alive"), reloadedStore.byPod("rs", "alive"));

            // Reconcile (as on start): "dead" has no pod in the API -> released with its port; "alive" stays.
            AttachmentReconciler.Outcome o = reconciler.reconcile();
            assertTrue(o.apiAnswered());
            IpLease kept = ipam.lease("ctr-alive", "eth0").orElseThrow();
            assertEquals(a.getResult().getIps(0).getAddress(), kept.ip() + "/24");
            assertTrue(ipam.lease("ctr-dead", "eth0").isEmpty());
            assertTrue(ovsdb.getPort(PodNetworkService.hostIfName("ctr-dead", "eth0")).isEmpty());
            assertTrue(ovsdb.getPort(PodNetworkService.hostIfName("ctr-alive", "eth0")).isPresent());
            assertTrue(client.check(CniClient.request("ctr-alive", alive.path(), "eth0", "rs", "alive", CniClient.CONFIG)).hasResult());
            assertTrue(client.del(CniClient.request("ctr-alive", alive.path(), "eth0", "rs", "alive", CniClient.CONFIG)).hasResult());
        }
    }
}
