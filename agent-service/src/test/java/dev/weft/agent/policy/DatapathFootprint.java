package dev.weft.agent.policy;

import dev.weft.agent.node.PodInterface;
import dev.weft.agent.openflow.OfEndpoint;
import dev.weft.agent.pipeline.Datapath;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Child JVM of {@link AgentFootprintBenchmark}: the agent's datapath (OpenFlow connection, flow store, policy
 * compiler) with 100 local pods, then policy flows in steps of ~10k, printing the process RSS after each step.
 */
public final class DatapathFootprint {

    public static void main(String[] args) throws Exception {
        Datapath dp = new Datapath(OfEndpoint.parse(args[0]), new Datapath.RoundStore() {
            public int load() {
                return 0;
            }

            public void save(int round) {
            }
        }).start();
        long deadline = System.currentTimeMillis() + 20_000;
        while (!dp.isReady() && System.currentTimeMillis() < deadline) {
            Thread.sleep(50);
        }
        Map<String, PodInterface> pods = Scale.pods(100);
        for (PodInterface p : pods.values()) {
            dp.podAdded(p);
        }
        print("pods=100", dp);
        PolicyState state = new PolicyState();
        // as the agent does it: each change recompiles only the policies it touches (NetworkPolicyFeature)
        NetworkPolicyFeature flows = new NetworkPolicyFeature(dp, () -> { });
        int rules = 0;
        for (int step = 1; step <= 4; step++) {
            Scale.addRules(state, 20, 500, rules, pods); // ~10k flows a step
            rules += 20;
            java.util.Set<String> added = new java.util.HashSet<>(state.policies.keySet());
            added.removeAll(flows.views().keySet());
            flows.update(state, pods, added);
            print("pods=100 policy-rules=" + rules, dp);
        }
        dp.close();
        System.exit(0);
    }

    private static void print(String what, Datapath dp) throws Exception {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(200);
        }
        long rss = 0;
        for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (l.startsWith("VmRSS:")) {
                rss = Long.parseLong(l.replaceAll("[^0-9]", ""));
            }
        }
        Runtime rt = Runtime.getRuntime();
        System.out.printf("FOOTPRINT %s flows=%d rss_kb=%d heap_used_kb=%d%n", what, dp.flowCount(), rss,
                (rt.totalMemory() - rt.freeMemory()) / 1024);
        System.out.flush();
    }
}
