package dev.weft.agent.service;

import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.testing.OvsSandbox;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.HashMap;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The informers on Services and EndpointSlices drive the feature on a real switch: a Service and its slice (through
 * a Kubernetes API server in CRUD mode) become a group with the slice's ready endpoints; a slice change changes the
 * buckets; the Service's deletion removes its flows and group.
 */
class ServiceWatcherTest {

    @Test
    void servicesAndSlicesFromTheApiBecomeGroupsAndFlows() throws Exception {
        KubernetesMockServer api = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(),
                new KubernetesCrudDispatcher(), false);
        api.init();
        try (OvsSandbox ovs = OvsSandbox.start(); KubernetesClient client = api.createClient()) {
            Datapath dp = ServiceOvsTest.startDatapath(ovs);
            ServiceFeature feature = new ServiceFeature(dp);
            dp.register(feature);
            try (ServiceWatcher watcher = new ServiceWatcher(client, "n1", feature).start()) {
                client.services().inNamespace("default").resource(ServiceModelTest.service("web", "10.96.0.20", null,
                        "http", "TCP", 80, "web")).create();
                client.discovery().v1().endpointSlices().inNamespace("default").resource(ServiceModelTest.slice("web", "web-a",
                        new Object[]{"10.10.1.6", "n1", true, false, "10.10.1.7", "n1", false, false}, "http", "TCP", 8080)).create();
                ServicePortKey key = new ServicePortKey("10.96.0.20", ServicePortKey.Protocol.TCP, 80);
                await().atMost(Duration.ofSeconds(20)).until(() -> feature.installed().containsKey(key)
                        && feature.installed().get(key).endpoints().size() == 1);
                assertTrue(ServiceOvsTest.groupDump(ovs).contains("load:0xa0a0106->NXM_NX_REG3[]"), ServiceOvsTest.groupDump(ovs));
                assertTrue(ovs.dumpFlows("table=40").stream().anyMatch(l -> l.contains("nw_dst=10.96.0.20,tp_dst=80")));

                // the second pod becomes ready: two endpoints (and the sentinel)
                EndpointSlice ready = new EndpointSliceBuilder(client.discovery().v1().endpointSlices().inNamespace("default")
                        .withName("web-a").get()).editEndpoint(1).editConditions().withReady(true).endConditions().endEndpoint().build();
                client.discovery().v1().endpointSlices().inNamespace("default").resource(ready).update();
                await().atMost(Duration.ofSeconds(20)).until(() -> feature.installed().get(key).endpoints().size() == 2);
                assertTrue(ServiceOvsTest.groupDump(ovs).contains("load:0xa0a0107->NXM_NX_REG3[]"), ServiceOvsTest.groupDump(ovs));
                assertTrue(feature.inSync());

                client.services().inNamespace("default").withName("web").delete();
                await().atMost(Duration.ofSeconds(20)).until(() -> feature.installed().isEmpty());
                assertEquals(0, dp.groupCount());
                assertTrue(ovs.dumpFlows("table=40").stream().noneMatch(l -> l.contains("10.96.0.20")));
                assertTrue(ovs.dumpFlows("table=42").stream().noneMatch(l -> l.contains("reg3")), "endpoint flows go with it");
            } finally {
                dp.close();
            }
        } finally {
            api.destroy();
        }
    }
}
