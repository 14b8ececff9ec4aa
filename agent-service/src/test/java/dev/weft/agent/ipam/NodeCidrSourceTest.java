package dev.weft.agent.ipam;

import dev.weft.net.IpPrefix;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class NodeCidrSourceTest {

    @Test
    void cidrsAreTypedAndABadOneFailsTheWholeLookupNamingItsSource() {
        NodeCidrSource.NodeCidrs c = NodeCidrSource.NodeCidrs.parse(List.of("10.10.1.0/24", "fd00:10:0:1::/64"),
                "ipam-service", "192.168.1.10");
        assertEquals(List.of(IpPrefix.parse("10.10.1.0/24"), IpPrefix.parse("fd00:10:0:1::/64")), c.cidrs());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NodeCidrSource.NodeCidrs.parse(
                List.of("10.10.1.0/24", "10.10.2.1/24"), "agent.pod-cidrs", ""));
        assertEquals("agent.pod-cidrs: '10.10.2.1/24' is not a CIDR: host bits set (did you mean 10.10.2.0/24?)",
                e.getMessage());
    }
}
