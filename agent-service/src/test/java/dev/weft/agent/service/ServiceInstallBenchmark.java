package dev.weft.agent.service;

import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.testing.OvsSandbox;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Service install figures on a real Open vSwitch: 10,000 Services x 10 endpoints installed by one sync (flows, groups,
 * time), then endpoint changes (one endpoint of one Service replaced) until the new bucket set is on the switch,
 * p50/p99. PRINTS figures ({@code BENCH} lines); asserts only that everything arrived. Run:
 * {@code ./mvnw -q -o test -pl net,proto,kube-api-recorder,agent-service -Dtest=ServiceInstallBenchmark
 * -Dsurefire.failIfNoSpecifiedTests=false | grep BENCH}.
 */
class ServiceInstallBenchmark {

    static final int SERVICES = Integer.getInteger("weft.bench.services", 10_000);
    static final int ENDPOINTS = Integer.getInteger("weft.bench.endpoints", 10);
    static final int CHANGES = Integer.getInteger("weft.bench.changes", 200);

    static String ip(int base, int k) {
        int v = base + k;
        return (v >>> 24 & 255) + "." + (v >>> 16 & 255) + "." + (v >>> 8 & 255) + "." + (v & 255);
    }

    static ServicePort service(int s, int generation) {
        List<ServiceEndpoint> eps = new ArrayList<>();
        for (int e = 0; e < ENDPOINTS; e++) {
            eps.add(new ServiceEndpoint(ip(0x0a800000, s * ENDPOINTS + e + (e == 0 ? generation * 0x200000 : 0)), 8080));
        }
        return new ServicePort(new ServicePortKey(ip(0x0a600000, s), ServicePortKey.Protocol.TCP, 80), "bench/s" + s, "", eps);
    }

    @Test
    void tenThousandServicesAndEndpointChanges() throws Exception {
        try (OvsSandbox ovs = OvsSandbox.start()) {
            Datapath dp = ServiceOvsTest.startDatapath(ovs);
            try {
                ServiceFeature feature = new ServiceFeature(dp);
                dp.register(feature);
                Map<ServicePortKey, ServicePort> all = new HashMap<>();
                for (int s = 0; s < SERVICES; s++) {
                    ServicePort p = service(s, 0);
                    all.put(p.key(), p);
                }
                long flowsBefore = dp.flowCount();
                long t0 = System.nanoTime();
                feature.update(all);
                long installMs = (System.nanoTime() - t0) / 1_000_000;
                // counted by the switch (OFPMP_AGGREGATE, group-desc): ovs-ofctl's dump of 100k+ flows takes too long
                long onSwitch = dp.connection().flowCount(0, 0).get(60, java.util.concurrent.TimeUnit.SECONDS);
                long groupsOnSwitch = dp.connection().groupIds().get(60, java.util.concurrent.TimeUnit.SECONDS).size();
                System.out.printf("BENCH services: %d Services x %d endpoints: %d flows + %d groups installed in %d ms "
                                + "(%d flows on the switch, %d groups)%n", SERVICES, ENDPOINTS, dp.flowCount() - flowsBefore,
                        dp.groupCount(), installMs, onSwitch, groupsOnSwitch);
                assertEquals(dp.flowCount(), onSwitch);
                assertEquals(SERVICES, groupsOnSwitch);

                Random random = new Random(42);
                long[] ms = new long[CHANGES];
                for (int i = 0; i < CHANGES; i++) {
                    ServicePort p = service(random.nextInt(SERVICES), i + 1);
                    all.put(p.key(), p);
                    long t = System.nanoTime();
                    feature.update(all);
                    ms[i] = (System.nanoTime() - t) / 1_000;
                }
                Arrays.sort(ms);
                System.out.printf("BENCH services: endpoint change -> new bucket set installed (%d changes, each with %d Services): "
                                + "p50 %.2f ms, p99 %.2f ms, max %.2f ms%n", CHANGES, SERVICES, ms[CHANGES / 2] / 1000.0,
                        ms[(int) (CHANGES * 0.99)] / 1000.0, ms[CHANGES - 1] / 1000.0);
                assertEquals(dp.flowCount(), (long) dp.connection().flowCount(0, 0).get(60, java.util.concurrent.TimeUnit.SECONDS));
                assertEquals(SERVICES, dp.connection().groupIds().get(60, java.util.concurrent.TimeUnit.SECONDS).size());
            } finally {
                dp.close();
            }
        }
    }
}
