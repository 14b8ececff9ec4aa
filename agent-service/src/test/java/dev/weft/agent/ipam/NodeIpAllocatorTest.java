package dev.weft.agent.ipam;

import dev.weft.net.IpAddress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Node-local allocation: gateway reserved, exhaustion, idempotent ADD, next-fit, persistence across instances. */
class NodeIpAllocatorTest {

    @TempDir
    Path state;

    @Test
    void allocatesAllButNetworkGatewayAndBroadcastThenReportsExhaustion() throws Exception {
        NodeIpAllocator a = new NodeIpAllocator(state);
        a.configure(PodSubnet.parse("10.9.0.0/29"));
        Set<String> ips = new HashSet<>();
        for (int i = 0; i < 5; i++) {
            ips.add(a.allocate("c" + i, "eth0", "ns", "p" + i).ip());
        }
        assertEquals(Set.of("10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"), ips);
        IpamException e = assertThrows(IpamException.class, () -> a.allocate("c9", "eth0", "ns", "p9"));
        assertEquals(IpamException.Reason.EXHAUSTED, e.reason());
        // The same attachment asking again gets its address, even when full.
        assertEquals(a.lease("c2", "eth0").orElseThrow().ip(), a.allocate("c2", "eth0", "ns", "p2").ip());
    }

    @Test
    void aReleasedAddressIsNotReusedAtOnceAndLeasesSurviveARestart() throws Exception {
        NodeIpAllocator a = new NodeIpAllocator(state);
        a.configure(PodSubnet.parse("10.9.1.0/24"));
        String first = a.allocate("c1", "eth0", "ns", "p1").ip();
        a.allocate("c2", "eth0", "ns", "p2");
        assertTrue(a.release("c1", "eth0").isPresent());
        assertFalse(a.release("c1", "eth0").isPresent());
        assertNotEquals(first, a.allocate("c3", "eth0", "ns", "p3").ip());

        NodeIpAllocator restarted = new NodeIpAllocator(state);
        restarted.configure(PodSubnet.parse("10.9.1.0/24"));
        assertEquals(Set.copyOf(a.leases()), Set.copyOf(restarted.leases()));
        String next = restarted.allocate("c4", "eth0", "ns", "p4").ip();
        assertTrue(a.leases().stream().noneMatch(l -> l.ip().equals(next)));
    }

    @Test
    void aCorruptLeaseFileStopsAllocationRatherThanRiskDuplicates() throws Exception {
        Files.createDirectories(state.resolve("ipam"));
        Files.writeString(state.resolve("ipam").resolve("leases.json"), "{ not json");
        NodeIpAllocator a = new NodeIpAllocator(state);
        IpamException e = assertThrows(IpamException.class, () -> a.configure(PodSubnet.parse("10.9.2.0/24")));
        assertEquals(IpamException.Reason.IO, e.reason());
        assertThrows(IpamException.class, () -> a.allocate("c", "eth0", "n", "p"));
    }

    @Test
    void cidrArithmetic() {
        PodSubnet c = PodSubnet.parse("10.244.3.0/24");
        assertEquals("10.244.3.1", c.gateway().toString());
        assertTrue(c.contains(IpAddress.parse("10.244.3.200")));
        assertFalse(c.contains(IpAddress.parse("10.244.4.1")));
        assertEquals("0a:58:0a:f4:03:01", PodSubnet.macFor(IpAddress.parse("10.244.3.1")).toString());
        assertTrue(c.usableForPod(IpAddress.parse("10.244.3.2")));
        assertFalse(c.usableForPod(IpAddress.parse("10.244.3.0")), "network");
        assertFalse(c.usableForPod(IpAddress.parse("10.244.3.1")), "gateway");
        assertFalse(c.usableForPod(IpAddress.parse("10.244.3.255")), "broadcast");
        assertThrows(IllegalArgumentException.class, () -> PodSubnet.parse("10.244.3.1/24"));
        assertThrows(IllegalArgumentException.class, () -> PodSubnet.parse("10.244.3.0/31"));
        assertThrows(IllegalArgumentException.class, () -> PodSubnet.parse("fd00:10::/64"));
    }

    @Test
    void aLeaseFileWithAnAddressThatIsNoneIsRefusedLikeACorruptOne() throws Exception {
        Files.createDirectories(state.resolve("ipam"));
        Files.writeString(state.resolve("ipam").resolve("leases.json"), """
                {"cidr": "10.9.3.0/24", "cursor": 0, "leases": [
                  {"ip": "10.9.3.2", "containerId": "c1", "ifName": "eth0", "namespace": "ns", "name": "p1", "createdMillis": 1},
                  {"ip": "10.9.3.03", "containerId": "c2", "ifName": "eth0", "namespace": "ns", "name": "p2", "createdMillis": 1}]}
                """);
        NodeIpAllocator a = new NodeIpAllocator(state);
        IpamException e = assertThrows(IpamException.class, () -> a.configure(PodSubnet.parse("10.9.3.0/24")));
        assertEquals(IpamException.Reason.IO, e.reason());
        assertTrue(e.getMessage().contains("lease of ns/p2: '10.9.3.03' is not an IPv4 or IPv6 address"), e.getMessage());
        assertThrows(IpamException.class, () -> a.allocate("c", "eth0", "n", "p"));
        assertFalse(a.adopt(new IpLease("not-an-ip", "c3", "eth0", "ns", "p3", 1)), "nothing is adopted before configure");
    }
}
