package dev.weft.agent.host;

import dev.weft.agent.ovsdb.OvsPort;
import dev.weft.agent.ovsdb.OvsdbClient;
import dev.weft.agent.testing.OvsSandbox;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The bridge set-up on a real Open vSwitch (userspace datapath, daemons in their own network namespace): from a bare
 * OVS to br-int with gateway and tunnel, repaired after tampering, foreign ports and bridges left alone.
 */
class NodeBridgeTest {

    OvsSandbox ovs;
    OvsdbClient ovsdb;
    NodeBridge.Layout layout;
    NodeBridge bridge;

    @BeforeEach
    void start() throws Exception {
        ovs = OvsSandbox.startInNetns();
        ovsdb = new OvsdbClient(ovs.dbSocket(), Duration.ofSeconds(10));
        String s = TestNetns.suffix();
        // Not the sandbox's own bridge: this one does not exist yet, as on a node with nothing but Open vSwitch.
        layout = new NodeBridge.Layout("bw" + s, "netdev", "gw" + s, 2, "tun" + s, "geneve");
        bridge = new NodeBridge(ovsdb, layout);
    }

    @AfterEach
    void stop() {
        if (ovsdb != null) {
            ovsdb.close();
        }
        if (ovs != null) {
            try {
                ovs.vsctl("--if-exists", "del-br", layout.bridge());
            } catch (Exception e) {
                // the sandbox goes anyway
            }
            ovs.close();
        }
    }

    private String get(String table, String record, String column) throws Exception {
        return ovs.vsctl("get", table, record, column).trim().replace("\"", "");
    }

    @Test
    void freshBridgeFromABareOpenVSwitch() throws Exception {
        NodeBridge.BridgeOutcome first = bridge.ensureBridge();
        assertTrue(first.created());
        assertEquals("netdev", get("Bridge", layout.bridge(), "datapath_type"));
        assertEquals("secure", get("Bridge", layout.bridge(), "fail_mode"));
        assertTrue(get("Bridge", layout.bridge(), "protocols").contains("OpenFlow13"));
        assertEquals("weft-agent", get("Bridge", layout.bridge(), "external_ids:weft.dev/owner"));
        // ovs-vswitchd took it up: its management socket answers OpenFlow 1.3.
        assertTrue(ovs.run(List.of("ovs-ofctl", "-O", "OpenFlow13", "show", ovs.dir.resolve(layout.bridge() + ".mgmt").toString()))
                .contains("OFPT_FEATURES_REPLY"));

        assertEquals(2, bridge.ensureGateway("0a:58:0a:f4:01:01", 1450));
        assertEquals("internal", get("Interface", layout.gatewayName(), "type"));
        assertEquals("0a:58:0a:f4:01:01", get("Interface", layout.gatewayName(), "mac"));
        assertEquals("1450", get("Interface", layout.gatewayName(), "mtu_request"));
        assertEquals("weft-gateway", get("Port", layout.gatewayName(), "external_ids:weft.dev/owner"));

        int tunnel = bridge.ensureTunnel();
        assertTrue(tunnel > 0);
        assertEquals("geneve", get("Interface", layout.tunnelName(), "type"));
        assertEquals("{key=flow, remote_ip=flow}", get("Interface", layout.tunnelName(), "options"));
        assertEquals("weft-tunnel", get("Interface", layout.tunnelName(), "external_ids:weft.dev/owner"));

        // Again, as after an agent restart: nothing to do, same ports.
        NodeBridge.BridgeOutcome again = bridge.ensureBridge();
        assertFalse(again.created());
        assertEquals(List.of(), again.repairs());
        assertEquals(2, bridge.ensureGateway("0a:58:0a:f4:01:01", 1450));
        assertEquals(tunnel, bridge.ensureTunnel());
    }

    @Test
    void tamperingIsRepairedAndForeignPortsSurvive() throws Exception {
        bridge.ensureBridge();
        bridge.ensureGateway("0a:58:0a:f4:01:01", 1450);
        int tunnel = bridge.ensureTunnel();
        String foreign = "fx" + TestNetns.suffix();
        ovs.vsctl("add-port", layout.bridge(), foreign, "--", "set", "Interface", foreign, "type=internal",
                "--", "set", "Port", foreign, "external_ids:owner=someone-else");

        ovs.vsctl("set", "Bridge", layout.bridge(), "fail_mode=standalone", "protocols=OpenFlow10");
        ovs.vsctl("set", "Interface", layout.tunnelName(), "options:key=77");
        ovs.vsctl("set", "Interface", layout.gatewayName(), "mtu_request=9000");

        NodeBridge.BridgeOutcome repaired = bridge.ensureBridge();
        assertEquals(List.of("fail_mode standalone -> secure", "protocols [OpenFlow10] + OpenFlow13"), repaired.repairs());
        assertEquals("secure", get("Bridge", layout.bridge(), "fail_mode"));
        assertEquals("[OpenFlow10, OpenFlow13]", get("Bridge", layout.bridge(), "protocols"));
        assertEquals(tunnel, bridge.ensureTunnel());
        assertEquals("{key=flow, remote_ip=flow}", get("Interface", layout.tunnelName(), "options"));
        bridge.ensureGateway("0a:58:0a:f4:01:01", 1450);
        assertEquals("1450", get("Interface", layout.gatewayName(), "mtu_request"));

        OvsPort survivor = ovsdb.getPort(foreign).orElseThrow();
        assertEquals(Map.of("owner", "someone-else"), survivor.externalIds());
        assertEquals("internal", survivor.type());
        assertTrue(ovs.vsctl("list-ports", layout.bridge()).lines().anyMatch(foreign::equals));
    }

    @Test
    void portsOfOurNamesThatAreNotOursAreConflictsLeftAlone() throws Exception {
        bridge.ensureBridge();
        // A port named like the gateway that someone else owns.
        ovs.vsctl("add-port", layout.bridge(), layout.gatewayName(), "--", "set", "Interface", layout.gatewayName(),
                "type=internal", "--", "set", "Port", layout.gatewayName(), "external_ids:weft.dev/owner=other");
        NodeNetworkConflict owned = assertThrows(NodeNetworkConflict.class, () -> bridge.ensureGateway("0a:58:0a:f4:01:01", 1450));
        assertTrue(owned.getMessage().contains("belongs to other"), owned.getMessage());
        assertEquals("other", get("Port", layout.gatewayName(), "external_ids:weft.dev/owner"));

        // An unowned port with the tunnel's name and other options: not ours to change.
        ovs.vsctl("add-port", layout.bridge(), layout.tunnelName(), "--", "set", "Interface", layout.tunnelName(),
                "type=geneve", "options:remote_ip=192.0.2.9");
        NodeNetworkConflict differs = assertThrows(NodeNetworkConflict.class, bridge::ensureTunnel);
        assertTrue(differs.getMessage().contains("is not Weft's"), differs.getMessage());
        assertEquals("{remote_ip=192.0.2.9}", get("Interface", layout.tunnelName(), "options"));

        // The same port exactly as Weft creates it (as older agents did, without an owner) is adopted.
        ovs.vsctl("set", "Interface", layout.tunnelName(), "options:remote_ip=flow", "options:key=flow");
        assertTrue(bridge.ensureTunnel() > 0);
        assertEquals("weft-tunnel", get("Port", layout.tunnelName(), "external_ids:weft.dev/owner"));
    }

    @Test
    void aBridgeOfTheWrongDatapathTypeIsReportedNotRecreated() throws Exception {
        // The sandbox's own bridge is netdev and carries a port of someone else's.
        String foreign = "fy" + TestNetns.suffix();
        ovs.vsctl("add-port", ovs.bridge, foreign, "--", "set", "Interface", foreign, "type=internal");
        NodeBridge onSystem = new NodeBridge(ovsdb, new NodeBridge.Layout(ovs.bridge, "system", "gw0", 2, "weft-tun0", "geneve"));
        NodeNetworkConflict e = assertThrows(NodeNetworkConflict.class, onSystem::ensureBridge);
        assertEquals("bridge " + ovs.bridge + " has datapath_type netdev but agent.bridge-datapath-type is system; the bridge"
                + " is left as it is (it has ports Weft does not own: " + foreign + ")", e.getMessage());
        assertEquals("netdev", get("Bridge", ovs.bridge, "datapath_type"));
        assertTrue(ovs.vsctl("list-ports", ovs.bridge).lines().anyMatch(foreign::equals));
        assertThrows(IllegalArgumentException.class, () -> new NodeBridge.Layout("b", "dpdk", "gw0", 2, "t", "geneve"));
    }
}
