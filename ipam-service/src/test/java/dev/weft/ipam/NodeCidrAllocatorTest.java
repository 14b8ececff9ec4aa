package dev.weft.ipam;

import dev.weft.net.AddressFamily;
import dev.weft.net.IpAddress;
import dev.weft.net.IpPrefix;
import dev.weft.ipam.NodeCidrAllocator.Change;
import dev.weft.ipam.NodeCidrAllocator.ChangeType;
import dev.weft.ipam.NodeCidrAllocator.NodeCidrs;
import dev.weft.ipam.NodeCidrAllocator.NodeView;
import dev.weft.proto.ipam.v1.AllocationState;
import org.junit.jupiter.api.Test;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NodeCidrAllocatorTest {

    private static NodeView node(String name, String... cidrs) {
        return new NodeView(name, "uid-" + name, List.of(cidrs), String.format("2026-01-01T00:00:%02dZ", Math.abs(name.hashCode()) % 60));
    }

    /** What the controller does for a Node without CIDRs: observe, reserve, (write), confirm. */
    private static List<IpPrefix> join(NodeCidrAllocator a, String name) {
        a.observe(new NodeView(name, "uid-" + name, List.of(), "2026-01-01T00:00:00Z"));
        NodeCidrAllocator.Reservation r = a.reserveBlocks(name);
        if (r.exhausted()) {
            return List.of();
        }
        a.confirm(name, r.cidrs());
        return r.cidrs();
    }

    private static NodeCidrAllocator allocator(List<String> pools, int v4, int v6, List<String> reserved) {
        return new NodeCidrAllocator(IpamSettings.of(pools, v4, v6, reserved));
    }

    /**
     * Property: random pools, block sizes and reserved ranges; allocate until exhausted. Blocks never overlap, never
     * touch a reserved range, and together with the reserved blocks cover the whole pool.
     */
    @Test
    void randomPoolsExhaustWithoutOverlapAndWithFullCoverage() {
        Random rnd = new Random(42);
        for (int round = 0; round < 60; round++) {
            AddressFamily f = rnd.nextBoolean() ? AddressFamily.IPV4 : AddressFamily.IPV6;
            int prefix = f == AddressFamily.IPV4 ? 8 + rnd.nextInt(15) : 40 + rnd.nextInt(80);
            int minMask = f == AddressFamily.IPV4 ? 16 : 64;
            int maxMask = f == AddressFamily.IPV4 ? 30 : 126;
            int mask = Math.max(minMask, prefix) + rnd.nextInt(4);
            mask = Math.min(mask, maxMask);
            if (mask - prefix > 10) {
                prefix = mask - rnd.nextInt(11); // keep rounds small: at most 1,024 blocks
            }
            IpPrefix pool = IpPrefix.containing(IpAddress.of(f, new BigInteger(f.bits(), rnd)), prefix);
            List<String> reserved = new ArrayList<>();
            for (int k = rnd.nextInt(3); k > 0; k--) {
                int rp = Math.min(f.bits(), mask - 2 + rnd.nextInt(6));
                IpAddress inside = pool.address(new BigInteger(f.bits() - prefix, rnd));
                reserved.add(IpPrefix.containing(inside, Math.max(rp, prefix)).toString());
            }
            NodeCidrAllocator a = allocator(List.of(pool.toString()), f == AddressFamily.IPV4 ? mask : 24,
                    f == AddressFamily.IPV6 ? mask : 64, reserved);
            CidrPool p = a.settings().pools().getFirst();
            List<IpPrefix> reservedCidrs = a.settings().reserved();
            long reservedBlocks = a.utilization().getFirst().reservedBlocks();

            TreeSet<IpPrefix> got = new TreeSet<>();
            int n = 0;
            while (true) {
                List<IpPrefix> c = join(a, "n" + n++);
                if (c.isEmpty()) {
                    break;
                }
                IpPrefix b = c.getFirst();
                assertEquals(mask, b.prefixLength());
                assertTrue(pool.contains(b), b + " in " + pool);
                assertTrue(reservedCidrs.stream().noneMatch(r -> r.overlaps(b)), b + " is reserved");
                IpPrefix lower = got.floor(b);
                IpPrefix higher = got.ceiling(b);
                assertFalse(lower != null && lower.overlaps(b), b + " overlaps " + lower);
                assertFalse(higher != null && higher.overlaps(b), b + " overlaps " + higher);
                got.add(b);
            }
            assertEquals(p.blockCount() - reservedBlocks, got.size(), "every free block handed out: " + p);
            BigInteger covered = got.stream().map(IpPrefix::size).reduce(BigInteger.ZERO, BigInteger::add)
                    .add(BigInteger.valueOf(reservedBlocks).shiftLeft(f.bits() - mask));
            assertEquals(pool.size(), covered, "allocated + reserved cover the pool");
            NodeCidrs last = a.get("n" + (n - 1)).orElseThrow();
            assertEquals(AllocationState.POOL_EXHAUSTED, last.state());
            assertTrue(last.message().contains("no free /" + mask), last.message());
            NodeCidrAllocator.PoolUsage u = a.utilization().getFirst();
            assertEquals(0, u.freeBlocks());
            assertEquals(got.size(), u.allocatedBlocks());
            if (u.totalBlocks() > u.reservedBlocks()) {
                assertEquals(1.0, u.utilization(), 1e-9);
            }
        }
    }

    @Test
    void releasedBlocksComeBackLowestFirst() {
        NodeCidrAllocator a = allocator(List.of("10.0.0.0/8"), 24, 64, List.of());
        Random rnd = new Random(3);
        for (int i = 0; i < 2000; i++) {
            assertEquals(IpPrefix.parse("10." + (i >> 8) + "." + (i & 255) + ".0/24"), join(a, "n" + i).getFirst());
        }
        List<Integer> freed = new ArrayList<>();
        for (int k = 0; k < 200; k++) {
            int i = rnd.nextInt(2000);
            if (!freed.contains(i)) {
                freed.add(i);
                a.remove("n" + i);
            }
        }
        Collections.sort(freed);
        for (int i : freed) {
            assertEquals(IpPrefix.parse("10." + (i >> 8) + "." + (i & 255) + ".0/24"), join(a, "again" + i).getFirst());
        }
        assertEquals(IpPrefix.parse("10.7.208.0/24"), join(a, "next").getFirst(), "then the first never-used block");
    }

    @Test
    void dualStackGivesOneBlockPerFamilyIpv4FirstAndLookupFindsOwners() {
        NodeCidrAllocator a = allocator(List.of("fd00:10::/48", "10.10.0.0/16"), 24, 64, List.of("10.10.0.0/24"));
        List<IpPrefix> c = join(a, "a");
        assertEquals(List.of(IpPrefix.parse("10.10.1.0/24"), IpPrefix.parse("fd00:10::/64")), c);
        join(a, "b");
        NodeCidrAllocator.Owner o = a.lookup(IpAddress.parse("fd00:10:0:1:ffff::7"));
        assertEquals("b", o.node().nodeName());
        assertEquals("fd00:10:0:1::/64", o.podCidr().toString());
        assertEquals("fd00:10::/48", o.pool().cidr().toString());
        o = a.lookup(IpAddress.parse("10.10.1.255"));
        assertEquals("a", o.node().nodeName());
        o = a.lookup(IpAddress.parse("10.10.0.5"));
        assertNull(o.node());
        assertTrue(o.reserved());
        o = a.lookup(IpAddress.parse("10.10.9.1"));
        assertNull(o.node());
        assertEquals("10.10.0.0/16", o.pool().cidr().toString());
        o = a.lookup(IpAddress.parse("192.168.1.1"));
        assertNull(o.pool());
    }

    /** Property: whatever is allocated and released, lookup of a random address agrees with a brute-force scan. */
    @Test
    void lookupAgreesWithBruteForce() {
        NodeCidrAllocator a = allocator(List.of("10.0.0.0/20", "fd00::/56"), 26, 66, List.of());
        Random rnd = new Random(5);
        for (int i = 0; i < 300; i++) {
            join(a, "n" + i);
            if (rnd.nextInt(3) == 0) {
                a.remove("n" + rnd.nextInt(i + 1));
            }
        }
        for (int k = 0; k < 3000; k++) {
            AddressFamily f = rnd.nextBoolean() ? AddressFamily.IPV4 : AddressFamily.IPV6;
            IpPrefix pool = a.settings().pools().get(f == AddressFamily.IPV4 ? 0 : 1).cidr();
            IpAddress ip = pool.address(new BigInteger(f.bits() - pool.prefixLength(), rnd));
            String expected = a.list().stream().filter(n -> n.cidrs().stream().anyMatch(c -> c.contains(ip)))
                    .map(NodeCidrs::nodeName).findFirst().orElse(null);
            NodeCidrs owner = a.lookup(ip).node();
            assertEquals(expected, owner == null ? null : owner.nodeName(), ip.toString());
        }
    }

    @Test
    void carriedCidrsAreRespectedAndConflictsReportedNotReused() {
        NodeCidrAllocator a = allocator(List.of("10.10.0.0/16"), 24, 64, List.of("10.10.0.0/24"));
        assertEquals(AllocationState.ALLOCATED, a.observe(node("old", "10.10.1.0/24")).state());
        NodeCidrs twin = a.observe(node("twin", "10.10.1.0/24"));
        assertEquals(AllocationState.CONFLICT, twin.state());
        assertTrue(twin.message().contains("10.10.1.0/24 overlaps 10.10.1.0/24 of Node old"), twin.message());
        NodeCidrs outside = a.observe(node("outside", "192.168.7.0/24"));
        assertEquals(AllocationState.CONFLICT, outside.state());
        assertTrue(outside.message().contains("192.168.7.0/24 lies outside every cluster CIDR"), outside.message());
        NodeCidrs res = a.observe(node("res", "10.10.0.0/24"));
        assertTrue(res.message().contains("overlaps reserved range 10.10.0.0/24"), res.message());
        NodeCidrs big = a.observe(node("big", "10.10.2.0/23"));
        assertEquals(AllocationState.ALLOCATED, big.state());
        NodeCidrs bad = a.observe(node("bad", "10.10.9.1/24"));
        assertEquals(AllocationState.CONFLICT, bad.state());
        assertTrue(bad.message().contains("host bits"), bad.message());

        // The new Node gets the lowest block nobody holds: not 1 (old), 2-3 (big), 0 (reserved).
        assertEquals(IpPrefix.parse("10.10.4.0/24"), join(a, "fresh").getFirst());
        assertEquals("outside", a.lookup(IpAddress.parse("192.168.7.9")).node().nodeName());
        assertEquals("big", a.lookup(IpAddress.parse("10.10.3.9")).node().nodeName());
        assertEquals("10.10.2.0/23", a.lookup(IpAddress.parse("10.10.3.9")).podCidr().toString());

        // The holder leaves: the conflicting Node's CIDR is now free, so it is claimed for it.
        a.remove("old");
        assertEquals(AllocationState.ALLOCATED, a.get("twin").orElseThrow().state());
        assertEquals("twin", a.lookup(IpAddress.parse("10.10.1.1")).node().nodeName());
    }

    @Test
    void freshAllocatorRebuiltFromTheSameNodesHasTheSameState() {
        NodeCidrAllocator a = allocator(List.of("10.10.0.0/16", "fd00:10::/48"), 24, 64, List.of());
        List<NodeView> nodes = new ArrayList<>();
        Random rnd = new Random(9);
        for (int i = 0; i < 200; i++) {
            String name = "n" + i;
            List<IpPrefix> c = join(a, name);
            nodes.add(new NodeView(name, "uid-" + name, c.stream().map(IpPrefix::toString).toList(),
                    String.format("2026-01-01T00:%02d:%02dZ", i / 60, i % 60)));
        }
        for (int k = 0; k < 50; k++) {
            int i = rnd.nextInt(nodes.size());
            a.remove(nodes.remove(i).name());
        }
        NodeCidrAllocator b = allocator(List.of("10.10.0.0/16", "fd00:10::/48"), 24, 64, List.of());
        List<NodeView> shuffled = new ArrayList<>(nodes);
        Collections.shuffle(shuffled, rnd);
        b.rebuild(shuffled);
        assertEquals(a.list(), b.list());
        assertEquals(a.utilization(), b.utilization());
        // and both hand out the same next block
        assertEquals(join(a, "x"), join(b, "x"));
    }

    @Test
    void watchGetsSnapshotThenChangesInRevisionOrder() {
        NodeCidrAllocator a = allocator(List.of("10.10.0.0/16"), 24, 64, List.of());
        join(a, "a");
        List<NodeCidrs> snapshot = new ArrayList<>();
        List<Change> changes = new ArrayList<>();
        NodeCidrAllocator.Watch w = a.watch(snapshot::addAll, changes::add);
        join(a, "b");
        a.remove("a");
        w.close();
        join(a, "c");
        assertEquals(List.of("a"), snapshot.stream().map(NodeCidrs::nodeName).toList());
        assertEquals(List.of(ChangeType.ADDED, ChangeType.MODIFIED, ChangeType.DELETED),
                changes.stream().map(Change::type).toList());
        assertEquals(AllocationState.PENDING, changes.get(0).node().state());
        assertEquals("10.10.1.0/24", changes.get(1).node().cidrs().getFirst().toString());
        for (int i = 1; i < changes.size(); i++) {
            assertEquals(changes.get(i - 1).revision() + 1, changes.get(i).revision());
        }
    }

    @Test
    void abandonGivesTheBlocksBackAndUidChangeMeansANewNode() {
        NodeCidrAllocator a = allocator(List.of("10.10.0.0/16"), 24, 64, List.of());
        a.observe(node("a"));
        NodeCidrAllocator.Reservation r = a.reserveBlocks("a");
        assertEquals("10.10.0.0/24", r.cidrs().getFirst().toString());
        a.abandon("a", "write failed: HTTP 409");
        assertTrue(a.needsAllocation("a"));
        assertEquals("10.10.0.0/24", a.reserveBlocks("a").cidrs().getFirst().toString());
        a.confirm("a", List.of(IpPrefix.parse("10.10.0.0/24")));
        // A stale view without CIDRs does not undo them (podCIDRs never go back to empty)...
        a.observe(new NodeView("a", "uid-a", List.of(), ""));
        assertEquals(AllocationState.ALLOCATED, a.get("a").orElseThrow().state());
        // ...but a new object under the same name is a new Node: the old one's block is free again.
        a.observe(new NodeView("a", "uid-a2", List.of(), ""));
        assertTrue(a.needsAllocation("a"));
        assertEquals(0, a.utilization().getFirst().allocatedBlocks());
    }
}
