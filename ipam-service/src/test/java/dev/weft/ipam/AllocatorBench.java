package dev.weft.ipam;

import dev.weft.net.AddressFamily;
import dev.weft.net.IpAddress;
import dev.weft.net.IpPrefix;
import dev.weft.ipam.NodeCidrAllocator.NodeView;
import org.junit.jupiter.api.Test;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * In-process allocator figures (run with -Pbench, see docs/ipam-service.md): 10,000 Nodes from a /8 and from a
 * dual-stack /8 + /48, the whole /8 to exhaustion, a rebuild after restart, and who-owns-IP lookups. Prints, asserts
 * only correctness.
 */
class AllocatorBench {
    private static final int NODES = 10_000;
    private static final int ROUNDS = 7;

    private static void print(String line) {
        System.out.println("BENCH " + line);
    }

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    /** CPU time of this thread: on a shared 2-core machine it says more than wall time. */
    private static long cpu() {
        return THREADS.getCurrentThreadCpuTime();
    }

    /**
     * Allocates {@code nodes} Nodes the way the controller does (observe, reserve, confirm); returns this thread's CPU
     * nanoseconds (wall time goes to {@link #lastWall}).
     */
    private static long lastWall;

    private static long allocate(NodeCidrAllocator a, int nodes, List<NodeView> out) {
        long w0 = System.nanoTime();
        long t0 = cpu();
        for (int i = 0; i < nodes; i++) {
            String name = "node-" + i;
            a.observe(new NodeView(name, "uid-" + i, List.of(), ""));
            NodeCidrAllocator.Reservation r = a.reserveBlocks(name);
            a.confirm(name, r.cidrs());
            if (out != null) {
                out.add(new NodeView(name, "uid-" + i, r.cidrs().stream().map(IpPrefix::toString).toList(), ""));
            }
        }
        lastWall = System.nanoTime() - w0;
        return cpu() - t0;
    }

    private static void report(String what, int nodes, long[] cpuNanos, long[] wallNanos) {
        Arrays.sort(cpuNanos);
        Arrays.sort(wallNanos);
        long median = cpuNanos[cpuNanos.length / 2];
        print(String.format("%-44s %6d nodes: CPU median %7.2f ms (best %7.2f ms) = %5.0f ns/node; wall median %7.2f ms",
                what, nodes, median / 1e6, cpuNanos[0] / 1e6, (double) median / nodes, wallNanos[wallNanos.length / 2] / 1e6));
    }

    @Test
    void allocateTenThousandNodes() {
        IpamSettings v4 = IpamSettings.of(List.of("10.0.0.0/8"), 24, 64, List.of());
        IpamSettings dual = IpamSettings.of(List.of("10.0.0.0/8", "fd00:10::/48"), 24, 64, List.of());
        for (int warm = 0; warm < 3; warm++) {
            allocate(new NodeCidrAllocator(v4), NODES, null);
            allocate(new NodeCidrAllocator(dual), NODES, null);
        }
        long[] t4 = new long[ROUNDS];
        long[] w4 = new long[ROUNDS];
        long[] t46 = new long[ROUNDS];
        long[] w46 = new long[ROUNDS];
        long[] full = new long[3];
        long[] wFull = new long[3];
        long[] rebuild = new long[ROUNDS];
        long[] wRebuild = new long[ROUNDS];
        List<NodeView> views = new ArrayList<>();
        for (int r = 0; r < ROUNDS; r++) {
            t4[r] = allocate(new NodeCidrAllocator(v4), NODES, null);
            w4[r] = lastWall;
            views.clear();
            NodeCidrAllocator d = new NodeCidrAllocator(dual);
            t46[r] = allocate(d, NODES, views);
            w46[r] = lastWall;
            NodeCidrAllocator fresh = new NodeCidrAllocator(dual);
            long w0 = System.nanoTime();
            long t0 = cpu();
            fresh.rebuild(views);
            rebuild[r] = cpu() - t0;
            wRebuild[r] = System.nanoTime() - w0;
            assertEquals(d.list(), fresh.list());
        }
        for (int r = 0; r < full.length; r++) {
            NodeCidrAllocator a = new NodeCidrAllocator(v4);
            full[r] = allocate(a, 65_536, null);
            wFull[r] = lastWall;
            assertEquals(0, a.utilization().getFirst().freeBlocks());
        }
        report("IPv4 10.0.0.0/8 in /24s", NODES, t4, w4);
        report("dual-stack 10.0.0.0/8 + fd00:10::/48", NODES, t46, w46);
        report("IPv4 10.0.0.0/8 to exhaustion (65,536 /24s)", 65_536, full, wFull);
        report("rebuild after restart, dual-stack", NODES, rebuild, wRebuild);
    }

    @Test
    void lookupsInProcess() {
        NodeCidrAllocator a = new NodeCidrAllocator(IpamSettings.of(List.of("10.0.0.0/8", "fd00:10::/48"), 24, 64, List.of()));
        allocate(a, NODES, null);
        Random rnd = new Random(1);
        IpAddress[] ips = new IpAddress[100_000];
        for (int i = 0; i < ips.length; i++) {
            boolean v6 = rnd.nextBoolean();
            int block = rnd.nextInt(NODES);
            ips[i] = v6 ? IpAddress.of(AddressFamily.IPV6, new BigInteger("fd000010000000000000000000000000", 16)
                    .add(BigInteger.valueOf(block).shiftLeft(64)).add(BigInteger.valueOf(rnd.nextInt(1 << 20))))
                    : IpAddress.ofIpv4((10 << 24) + (block << 8) + rnd.nextInt(256));
        }
        for (int warm = 0; warm < 5; warm++) {
            for (IpAddress ip : ips) {
                assertNotNull(a.lookup(ip).node());
            }
        }
        long[] t = new long[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            long t0 = cpu();
            for (IpAddress ip : ips) {
                a.lookup(ip);
            }
            t[r] = cpu() - t0;
        }
        Arrays.sort(t);
        print(String.format("in-process lookup (10,000 dual-stack nodes)  %d lookups: CPU median %.0f ns/lookup = %.2f M lookups/s per core",
                ips.length, (double) t[ROUNDS / 2] / ips.length, ips.length / (t[ROUNDS / 2] / 1e9) / 1e6));
    }
}
