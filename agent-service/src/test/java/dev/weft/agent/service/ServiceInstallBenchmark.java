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
                // where the time goes, part 1: building and encoding every flow and group (no switch)
                long e0 = System.nanoTime();
                int i0 = 0;
                long encodedBytes = 0;
                for (ServicePort p : all.values()) {
                    Datapath.OwnerState st = feature.state(p, ++i0);
                    for (var f : st.flows()) {
                        encodedBytes += f.encode().length;
                    }
                    for (var g : st.groups()) {
                        encodedBytes += g.encode().length;
                    }
                    for (ServiceEndpoint e : p.endpoints()) {
                        encodedBytes += ServiceFeature.endpointFlow(new ServiceFeature.EndpointKey(p.key().protocol(), e)).encode().length;
                    }
                }
                long encodeMs = (System.nanoTime() - e0) / 1_000_000;
                System.out.printf("BENCH services: building + encoding the flows and groups alone: %d ms (%d MB)%n",
                        encodeMs, encodedBytes >> 20);
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

                // the same number of policy-style flows (table 50, 5-tuple-ish matches) through ovs-ofctl --bundle, same
                // switch, same run: what Open vSwitch itself takes for that many flows
                long n = dp.flowCount() - flowsBefore;
                java.nio.file.Path file = java.nio.file.Files.createTempFile("weft-bench-flows", ".txt");
                try {
                    StringBuilder sb = new StringBuilder();
                    for (long k = 0; k < n; k++) {
                        sb.append("table=50,priority=200,cookie=0x9900000000,tcp,nw_src=").append(ip(0x0b000000, (int) (k / 64)))
                                .append(",nw_dst=").append(ip(0x0c000000, (int) k)).append(",tp_dst=").append(1 + (int) (k % 60000))
                                .append(" actions=resubmit(,60)\n");
                    }
                    java.nio.file.Files.writeString(file, sb);
                    long o0 = System.nanoTime();
                    ovs.run(List.of("ovs-ofctl", "-O", "OpenFlow15", "--bundle", "add-flows", ovs.mgmtSocket().toString(), file.toString()));
                    long ofctlMs = (System.nanoTime() - o0) / 1_000_000;
                    long total = dp.connection().flowCount(0, 0).get(60, java.util.concurrent.TimeUnit.SECONDS);
                    System.out.printf("BENCH services: the same %d flows as policy flows through ovs-ofctl --bundle add-flows: %d ms "
                            + "(%d flows on the switch now)%n", n, ofctlMs, total);
                } finally {
                    java.nio.file.Files.deleteIfExists(file);
                }
            } finally {
                dp.close();
            }
        }
    }
}
