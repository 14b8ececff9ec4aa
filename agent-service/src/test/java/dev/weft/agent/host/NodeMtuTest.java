package dev.weft.agent.host;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The pod MTU from the uplink's MTU and the tunnel overhead, with the uplink found in a real network namespace. */
class NodeMtuTest {

    @Test
    void geneveAndVxlanOverIpv4Take50Bytes() {
        assertEquals(50, NodeMtu.ENCAP_OVERHEAD_IPV4);
        assertEquals(1450, NodeMtu.podMtu(1500, "geneve"));
        assertEquals(8950, NodeMtu.podMtu(9000, "vxlan"));
        assertThrows(IllegalArgumentException.class, () -> NodeMtu.podMtu(1500, "gre"));
    }

    @Test
    void theUplinkIsTheInterfaceHoldingTheNodeIpElseTheDefaultRoute() throws Exception {
        TestNetns.requireRootAndNft();
        try (TestNetns ns = TestNetns.create("wmt")) {
            HostCommands host = new HostCommands(Optional.of(ns.name));
            // Nothing to go by: a 1500-byte Ethernet is assumed, and said.
            NodeMtu.Choice none = NodeMtu.choose(OptionalInt.empty(), "", "geneve", host);
            assertEquals(1450, none.mtu());
            assertEquals("no uplink found, assumed MTU 1500 - 50 geneve", none.reason());

            String s = TestNetns.suffix();
            HostCommands.run(List.of("ip", "-n", ns.name, "link", "add", "ja" + s, "mtu", "9000", "type", "veth",
                    "peer", "name", "jb" + s, "mtu", "1400"), null);
            ns.exec("ip", "link", "set", "ja" + s, "up");
            ns.exec("ip", "link", "set", "jb" + s, "up");
            ns.exec("ip", "addr", "add", "192.168.93.2/24", "dev", "ja" + s);
            ns.exec("ip", "addr", "add", "192.168.94.2/24", "dev", "jb" + s);
            ns.exec("ip", "route", "add", "default", "via", "192.168.94.1");

            NodeMtu.Choice byNodeIp = NodeMtu.choose(OptionalInt.empty(), "192.168.93.2", "geneve", host);
            assertEquals(8950, byNodeIp.mtu());
            assertEquals("uplink ja" + s + " (holds 192.168.93.2) MTU 9000 - 50 geneve", byNodeIp.reason());

            NodeMtu.Choice byDefaultRoute = NodeMtu.choose(OptionalInt.empty(), "", "geneve", host);
            assertEquals(1350, byDefaultRoute.mtu());
            assertEquals("uplink jb" + s + " (default route) MTU 1400 - 50 geneve", byDefaultRoute.reason());

            assertEquals(new NodeMtu.Choice(1300, "agent.pod-mtu"), NodeMtu.choose(OptionalInt.of(1300), "192.168.93.2", "geneve", host));
            assertThrows(IllegalArgumentException.class, () -> NodeMtu.choose(OptionalInt.of(100), "", "geneve", host));
        }
    }
}
