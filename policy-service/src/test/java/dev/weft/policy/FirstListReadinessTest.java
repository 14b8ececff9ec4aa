package dev.weft.policy;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import org.junit.jupiter.api.Test;

import java.net.InetAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.weft.policy.K8s.pod;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Readiness (and with it the first snapshot an agent gets) waits until computation has handled every object of the
 * informers' first lists, not only until fabric8 has put them in its store: the informers' own hasSynced is true while
 * the handler still works through the list (tens of seconds with 100,000 pods), and a snapshot taken then lacks pods.
 * Real fabric8 informers against the CRUD API server, with a computation handler held back by the test.
 */
class FirstListReadinessTest {

    @Test
    void notSyncedUntilTheHandlerHasComputedEveryListedObject() throws Exception {
        KubernetesMockServer api = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(List.of()), false);
        api.init(InetAddress.getLoopbackAddress(), 0);
        try (KubernetesClient k8s = api.createClient()) {
            for (int i = 0; i < 5; i++) {
                k8s.resource(pod("a", "p" + i, "app=web", "n1", "10.0.0." + (i + 1))).create();
            }
            ClusterInformers informers = new ClusterInformers(k8s);
            informers.create();
            CountDownLatch computing = new CountDownLatch(1);
            AtomicInteger computed = new AtomicInteger();
            informers.pods().addEventHandler(new ResourceEventHandler<Pod>() {
                @Override
                public void onAdd(Pod p) {
                    try {
                        computing.await(30, TimeUnit.SECONDS); // a computation slower than the list
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    computed.incrementAndGet();
                    informers.handled(Pod.class, p);
                }

                @Override
                public void onUpdate(Pod oldPod, Pod newPod) {
                    informers.handled(Pod.class, newPod);
                }

                @Override
                public void onDelete(Pod p, boolean unknown) {
                    informers.handled(Pod.class, p);
                }
            });
            try {
                informers.run();
                // The empty lists of namespaces and policies are computed at once; the pods are listed, not computed.
                await().atMost(Duration.ofSeconds(30)).until(() -> informers.notSyncedReason()
                        .equals("Pod: computing the first list (5 objects to go)"));
                assertTrue(informers.pods().hasSynced(), "fabric8 has the list in its store");
                assertFalse(informers.hasSynced(), "ready although no pod of the first list is computed");
                computing.countDown();
                await().atMost(Duration.ofSeconds(30)).until(informers::hasSynced);
                assertEquals(5, computed.get());
                assertEquals("", informers.notSyncedReason());
            } finally {
                computing.countDown();
                informers.pods().close();
                informers.namespaces().close();
                informers.networkPolicies().close();
            }
        } finally {
            api.destroy();
        }
    }
}
