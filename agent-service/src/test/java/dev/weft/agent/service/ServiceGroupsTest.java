package dev.weft.agent.service;

import dev.weft.agent.openflow.GroupMod;
import dev.weft.agent.openflow.OfAction;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The groups of a Service port: one message each, every endpoint exactly once at full weight, equal shares. */
class ServiceGroupsTest {

    static List<ServiceEndpoint> endpoints(int n) {
        return IntStream.range(0, n).mapToObj(i -> new ServiceEndpoint("10." + (i >> 16 & 255) + "." + (i >> 8 & 255) + "." + (i & 255), 80))
                .toList();
    }

    /** Each endpoint's share of new connections when every select group spreads evenly over its full-weight buckets. */
    static Map<Long, Double> shares(List<GroupMod> groups) {
        Map<Integer, GroupMod> byId = new HashMap<>();
        groups.forEach(g -> byId.put(g.groupId(), g));
        Map<Long, Double> out = new HashMap<>();
        walk(byId, groups.get(0), 1.0, out);
        return out;
    }

    private static void walk(Map<Integer, GroupMod> byId, GroupMod g, double p, Map<Long, Double> out) {
        List<GroupMod.Bucket> live = g.buckets().stream().filter(b -> b.weight() == ServiceGroups.ENDPOINT_WEIGHT).toList();
        for (GroupMod.Bucket b : live) {
            OfAction first = b.actions().get(0);
            if (first instanceof OfAction.Group next) {
                walk(byId, byId.get(next.groupId()), p / live.size(), out);
            } else {
                out.merge(((OfAction.RegLoad) first).value(), p / live.size(), Double::sum);
            }
        }
    }

    @Test
    void everyEndpointOnceWithANearlyEqualShareAtEverySize() {
        for (int n : new int[]{1, 2, 3, 70, 817, 818, 2000, 10_000, 50_000}) {
            List<GroupMod> groups = ServiceGroups.groups(1 << 8, endpoints(n));
            for (GroupMod g : groups) {
                assertTrue(g.encode().length <= 0xffff);
                if (n > 1) {
                    assertEquals(ServiceGroups.SENTINEL_WEIGHT, g.buckets().get(0).weight() == 1 ? 1
                            : g.buckets().get(g.buckets().size() - 1).weight(), "a sentinel makes Open vSwitch use rendezvous hashing");
                }
            }
            Map<Long, Double> shares = shares(groups);
            assertEquals(n, shares.size(), n + " endpoints");
            double min = shares.values().stream().mapToDouble(d -> d).min().orElseThrow();
            double max = shares.values().stream().mapToDouble(d -> d).max().orElseThrow();
            System.out.printf("%d endpoints: %d groups, share %.6f..%.6f (1/N = %.6f)%n", n, groups.size(), min, max, 1.0 / n);
            assertTrue(max / min < 1.01, n + ": shares " + min + ".." + max);
        }
    }

    @Test
    void chunkEndpointsSitAfterThePositionsThatChoseTheChunk() {
        List<GroupMod> groups = ServiceGroups.groups(1 << 8, endpoints(2000));
        int m = groups.size() - 1;
        assertEquals(m + 1, groups.get(0).buckets().size(), "m chunks and a sentinel");
        for (GroupMod chunk : groups.subList(1, groups.size())) {
            List<GroupMod.Bucket> b = chunk.buckets();
            for (int i = 0; i < m; i++) {
                assertEquals(ServiceGroups.SENTINEL_WEIGHT, b.get(i).weight());
            }
            assertTrue(b.subList(m, b.size()).stream().allMatch(x -> x.weight() == ServiceGroups.ENDPOINT_WEIGHT));
        }
        assertThrows(IllegalArgumentException.class, () -> ServiceGroups.groups(1 << 8, List.of()));
        assertTrue(ServiceGroups.maxEndpoints() > 100_000, "two levels hold " + ServiceGroups.maxEndpoints());
    }
}
