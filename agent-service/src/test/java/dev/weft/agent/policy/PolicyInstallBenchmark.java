package dev.weft.agent.policy;

import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.FlowMod;
import dev.weft.agent.openflow.OfEndpoint;
import dev.weft.agent.pipeline.Datapath;
import dev.weft.agent.testing.OvsSandbox;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Flow installation rate of 100 rules x 500 IPs (Antrea's BatchInstallPolicyRuleFlows scale) into a real Open vSwitch,
 * next to {@code ovs-ofctl --bundle add-flows} of the same flows, in the same run. PRINTS figures; asserts only that
 * every flow arrived. Run: {@code ./mvnw -q test -pl net,proto,kube-api-recorder,agent-service -Dtest=PolicyInstallBenchmark
 * -Dsurefire.failIfNoSpecifiedTests=false}.
 */
class PolicyInstallBenchmark {

    @Test
    void installRateAgainstOvsOfctlBundle() throws Exception {
        try (OvsSandbox ovs = OvsSandbox.start()) {
            Datapath dp = new Datapath(OfEndpoint.parse("unix:" + ovs.mgmtSocket()), new Datapath.RoundStore() {
                public int load() {
                    return 0;
                }

                public void save(int round) {
                }
            }).start();
            try {
                await().atMost(Duration.ofSeconds(20)).until(dp::isReady);
                Map<String, PodInterface> pods = Scale.pods(100);
                long c0 = System.nanoTime();
                List<FlowMod> flows = PolicyCompiler.compile(Scale.rules(100, 500, 0, pods), pods, new PolicyCompiler.ConjIds()).flows();
                long c1 = System.nanoTime();
                Path file = ovs.dir.resolve("flows.txt");
                List<String> lines = new ArrayList<>();
                for (FlowMod f : flows) {
                    lines.add(f.toString());
                }
                Files.write(file, lines);
                long base = count(dp);
                System.out.printf("BENCH policy flows: %d (compile %.0f ms)%n", flows.size(), (c1 - c0) / 1e6);
                List<Double> ours = new ArrayList<>(), theirs = new ArrayList<>();
                for (int round = 0; round < 3; round++) {
                    long t0 = System.nanoTime();
                    dp.apply(42, flows);
                    long t1 = System.nanoTime();
                    assertEquals(base + flows.size(), count(dp));
                    dp.apply(42, List.of());
                    assertEquals(base, count(dp));
                    ours.add(flows.size() / ((t1 - t0) / 1e9));

                    long t2 = System.nanoTime();
                    ovs.ofctl("--bundle", "add-flows", ovs.mgmtSocket().toString(), file.toString());
                    long t3 = System.nanoTime();
                    assertEquals(base + flows.size(), count(dp));
                    ovs.ofctl("--strict", "del-flows", ovs.mgmtSocket().toString(), "table=90,priority=200");
                    ovs.ofctl("--strict", "del-flows", ovs.mgmtSocket().toString(), "table=90,priority=190");
                    ovs.ofctl("--strict", "del-flows", ovs.mgmtSocket().toString(), "table=100,priority=200");
                    theirs.add(flows.size() / ((t3 - t2) / 1e9));
                    System.out.printf("BENCH round %d: weft %.0f flows/s, ovs-ofctl --bundle %.0f flows/s%n", round + 1,
                            ours.get(round), theirs.get(round));
                }
                double o = median(ours), t = median(theirs);
                System.out.printf("BENCH median: weft %.0f flows/s, ovs-ofctl --bundle %.0f flows/s, ratio %.0f%%%n", o, t, 100 * o / t);
            } finally {
                dp.close();
            }
        }
    }

    /** Flows on the switch (OFPMP_AGGREGATE: cheap, unlike dumping 50k flows as text). */
    static long count(Datapath dp) {
        return dp.connection().flowCount(0, 0).join();
    }

    static double median(List<Double> v) {
        List<Double> s = new ArrayList<>(v);
        s.sort(Double::compare);
        return s.get(s.size() / 2);
    }
}
