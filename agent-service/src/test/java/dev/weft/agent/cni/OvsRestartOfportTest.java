package dev.weft.agent.cni;

import dev.weft.agent.node.PersistentPodInterfaceStore;
import dev.weft.agent.node.PodInterface;
import dev.weft.agent.ovsdb.OvsPort;
import dev.weft.agent.ovsdb.OvsdbClient;
import dev.weft.proto.cni.v1.CniResponse;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.quarkus.test.kubernetes.client.WithKubernetesTestServer;
import jakarta.inject.Inject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Pods keep working across ovs-vswitchd restarts during which other pods are added (the ChaosIT failure of seed
 * 20261202: a pod cut off both ways after an ovs-vswitchd restart). A port added while ovs-vswitchd is down has no
 * OpenFlow number yet; when ovs-vswitchd comes back it numbers the ports in hash order, and the new port can take the
 * number an older pod's port had (the number in OVSDB is only a hint), which then gets another: the agent's flows
 * still name the old numbers. Real Open vSwitch in the node's namespace, pods as network namespaces, the CNI server
 * over its socket.
 */
@QuarkusTest
@WithKubernetesTestServer(crud = true)
@QuarkusTestResource(value = CniTestEnvironment.class, restrictToAnnotatedClass = true)
class OvsRestartOfportTest {

    @Inject
    CniAgent agent;

    @Inject
    OvsdbClient ovsdb;

    @Inject
    PersistentPodInterfaceStore store;

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

    /** A pod: its sandbox, and the address the ADD gave it. */
    private record Added(String name, PodNetns netns, String ip) {
    }

    private Added add(String name) throws IOException {
        kubernetes.pods().inNamespace("default").resource(new PodBuilder().withNewMetadata().withNamespace("default")
                .withName(name).endMetadata().withNewSpec().withNodeName("test-node").addNewContainer().withName("c")
                .withImage("busybox").endContainer().endSpec().build()).create();
        PodNetns netns = new PodNetns();
        return new Added(name, netns, addIn(name, netns));
    }

    private static String addIn(String name, PodNetns netns) {
        CniResponse r = client.add(CniClient.request("ctr-" + name, netns.path(), "eth0", "default", name,
                CniClient.CONFIG));
        assertTrue(r.hasResult(), () -> "ADD " + name + ": " + r);
        String cidr = r.getResult().getIps(0).getAddress();
        return cidr.substring(0, cidr.indexOf('/'));
    }

    private static boolean ping(Added from, Added to) {
        try {
            from.netns().exec("ping", "-c", "1", "-W", "1", to.ip());
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Pod name to "stored ofport / OVSDB ofport" for every pod whose two differ. */
    private Map<String, String> ofportMismatches() throws Exception {
        Map<String, Integer> inOvs = new TreeMap<>();
        for (OvsPort p : ovsdb.listPorts(CniTestEnvironment.ovs.bridge)) {
            inOvs.put(p.name(), p.ofport());
        }
        Map<String, String> out = new TreeMap<>();
        for (PodInterface p : store.all()) {
            Integer now = inOvs.get(p.hostIfName());
            if (now == null || now != p.ofport()) {
                out.put(p.name(), "agent " + p.ofport() + " / ovs " + now);
            }
        }
        return out;
    }

    @Test
    void podsAddedWhileOvsVswitchdIsDownRenumberNoPod() throws Exception {
        await().atMost(Duration.ofSeconds(30)).until(() -> agent.notReadyReason() == null);
        List<Added> pods = new ArrayList<>();
        List<PodNetns> sandboxes = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            for (int i = 0; i < 4; i++) {
                pods.add(add("before-" + i));
            }
            await().atMost(Duration.ofSeconds(20)).until(() -> ping(pods.get(0), pods.get(1)));
            // Two restarts with three ADDs each in flight while ovs-vswitchd is down: without pinned numbers the
            // chance that no new port takes an older pod's number is below 1/1000.
            for (int restart = 0; restart < 2; restart++) {
                CniTestEnvironment.ovs.killVswitchd();
                List<Future<Added>> during = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    String name = "during-" + restart + "-" + i;
                    kubernetes.pods().inNamespace("default").resource(new PodBuilder().withNewMetadata()
                            .withNamespace("default").withName(name).endMetadata().withNewSpec().withNodeName("test-node")
                            .addNewContainer().withName("c").withImage("busybox").endContainer().endSpec().build()).create();
                    PodNetns netns = new PodNetns();
                    sandboxes.add(netns);
                    during.add(pool.submit(() -> new Added(name, netns, addIn(name, netns))));
                }
                // the ADDs insert their ports now and wait for ovs-vswitchd to number them
                await().atMost(Duration.ofSeconds(10)).until(() -> CniTestEnvironment.ovs
                        .vsctl("--columns=name", "find", "Interface", "ofport=[]").lines()
                        .filter(l -> l.startsWith("name")).count() == 3);
                CniTestEnvironment.ovs.startVswitchd();
                for (Future<Added> f : during) {
                    pods.add(f.get(30, TimeUnit.SECONDS));
                }
                System.out.printf("after ovs-vswitchd restart %d: ofports %s%n", restart + 1, store.all().stream()
                        .collect(Collectors.toMap(PodInterface::name, PodInterface::ofport, (a, b) -> a, TreeMap::new)));
            }
            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertEquals(Map.of(), ofportMismatches(),
                    "pods whose port Open vSwitch numbers differently from the agent's flows"));
            // every pod reaches the first one and back (both directions use each pod's port number)
            Added first = pods.getFirst();
            for (Added p : pods.subList(1, pods.size())) {
                await().atMost(Duration.ofSeconds(10)).until(() -> ping(p, first));
                assertTrue(ping(first, p), first.name() + " -> " + p.name());
            }
            // and the numbers are pinned, so the next restart keeps them with nothing added
            for (Added p : pods) {
                String host = PodNetworkService.hostIfName("ctr-" + p.name(), "eth0");
                String requested = CniTestEnvironment.ovs.vsctl("get", "Interface", host, "ofport_request").trim();
                String ofport = CniTestEnvironment.ovs.vsctl("get", "Interface", host, "ofport").trim();
                assertEquals(ofport, requested, p.name() + ": ofport_request");
            }
        } finally {
            pool.shutdownNow();
            for (Added p : pods) {
                try {
                    client.del(CniClient.request("ctr-" + p.name(), p.netns().path(), "eth0", "default", p.name(),
                            CniClient.CONFIG));
                } catch (RuntimeException e) {
                    // cleanup; the sandbox goes with the test resource
                }
            }
            pods.forEach(p -> p.netns().close());
            sandboxes.forEach(PodNetns::close);
        }
    }
}
