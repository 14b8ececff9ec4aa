package dev.weft.agent.ovsdb;

import dev.weft.agent.testing.OvsSandbox;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The OVSDB client against a real ovsdb-server and ovs-vswitchd (internal ports get real OpenFlow port numbers). */
class OvsdbClientTest {

    static OvsSandbox ovs;
    static OvsdbClient client;

    @BeforeAll
    static void start() throws Exception {
        ovs = OvsSandbox.start();
        client = new OvsdbClient(ovs.dbSocket(), Duration.ofSeconds(10));
    }

    @AfterAll
    static void stop() {
        if (client != null) {
            client.close();
        }
        if (ovs != null) {
            ovs.close();
        }
    }

    private static String unique(String prefix) {
        return prefix + Long.toString(System.nanoTime() % 1_000_000_000L, 36);
    }

    @Test
    void versionsAndDatabases() throws Exception {
        assertTrue(client.listDbs().contains("Open_vSwitch"));
        assertTrue(client.schemaVersion().matches("\\d+\\.\\d+\\.\\d+"), client.schemaVersion());
        assertTrue(client.bridgeExists(ovs.bridge));
        assertFalse(client.bridgeExists("nosuchbr"));
        // ovs_version is written by the start-up scripts (ovs-ctl), not by the daemons: the sandbox has none until set.
        assertEquals("", client.ovsVersion());
        ovs.vsctl("set", "Open_vSwitch", ".", "ovs_version=3.1.0-test");
        assertEquals("3.1.0-test", client.ovsVersion());
    }

    @Test
    void flowRestoreWaitIsClearedAndOtherSettingsStay() throws Exception {
        ovs.vsctl("set", "Open_vSwitch", ".", "other_config:flow-restore-wait=true", "other_config:weft-test-key=kept");
        assertTrue(ovs.vsctl("get", "Open_vSwitch", ".", "other_config").contains("flow-restore-wait"));
        client.clearFlowRestoreWait();
        String after = ovs.vsctl("get", "Open_vSwitch", ".", "other_config");
        assertFalse(after.contains("flow-restore-wait"), after);
        assertTrue(after.contains("weft-test-key=kept"), after);
        client.clearFlowRestoreWait(); // absent key: no change, no error
        ovs.vsctl("remove", "Open_vSwitch", ".", "other_config", "weft-test-key");
    }

    @Test
    void addListAndDeletePortWithRequestedOfport() throws Exception {
        String name = unique("wti");
        AddedPort added = client.addPort(ovs.bridge, new PortSpec(name, "internal", Map.of(),
                Map.of("pod-namespace", "ns1", "pod-name", "p1"), 77), Duration.ofSeconds(10));
        assertEquals(77, added.ofport());
        assertEquals("77", ovs.vsctl("get", "Interface", name, "ofport").trim());
        assertEquals(added.portUuid(), ovs.vsctl("get", "Port", name, "_uuid").trim());
        assertEquals("ns1", ovs.vsctl("get", "Interface", name, "external_ids:pod-namespace").trim().replace("\"", ""));

        OvsPort listed = client.listPorts(ovs.bridge).stream().filter(p -> p.name().equals(name)).findFirst().orElseThrow();
        assertEquals(77, listed.ofport());
        assertEquals("internal", listed.type());
        assertEquals(Map.of("pod-namespace", "ns1", "pod-name", "p1"), listed.externalIds());
        assertEquals(listed, client.getPort(name).orElseThrow());

        OvsdbException dup = assertThrows(OvsdbException.class,
                () -> client.addPort(ovs.bridge, PortSpec.of(name, "internal"), Duration.ofSeconds(5)));
        assertTrue(dup.getMessage().contains("already exists"), dup.getMessage());

        assertTrue(client.deletePort(ovs.bridge, name));
        assertFalse(client.deletePort(ovs.bridge, name));
        assertTrue(client.getPort(name).isEmpty());
        assertFalse(ovs.vsctl("list-ports", ovs.bridge).contains(name));
    }

    @Test
    void tunnelPortOptionsAndMissingBridge() throws Exception {
        String name = unique("wtg");
        client.addPort(ovs.bridge, new PortSpec(name, "geneve", Map.of("remote_ip", "flow", "key", "flow"), Map.of(), 0),
                Duration.ofSeconds(10));
        OvsPort p = client.getPort(name).orElseThrow();
        assertEquals(Map.of("remote_ip", "flow", "key", "flow"), p.options());
        assertTrue(p.ofport() > 0);
        assertTrue(client.deletePort(name));

        OvsdbException e = assertThrows(OvsdbException.class,
                () -> client.addPort("nosuchbr", PortSpec.of(unique("wtx"), "internal"), Duration.ofSeconds(5)));
        assertEquals("no bridge nosuchbr", e.getMessage());
    }

    @Test
    void bridgeExternalIdsAreMergedNotReplaced() throws Exception {
        client.setBridgeExternalIds(ovs.bridge, Map.of("weft-round", "1", "other", "x"));
        client.setBridgeExternalIds(ovs.bridge, Map.of("weft-round", "2"));
        Map<String, String> ids = client.getBridgeExternalIds(ovs.bridge);
        assertEquals("2", ids.get("weft-round"));
        assertEquals("x", ids.get("other"));
        client.setBridgeExternalIds(ovs.bridge, Map.of(), List.of("other"));
        assertFalse(client.getBridgeExternalIds(ovs.bridge).containsKey("other"));
        assertThrows(OvsdbException.class, () -> client.setBridgeExternalIds("nosuchbr", Map.of("a", "b")));
    }

    @Test
    void concurrentAddsGetDistinctOfports() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<AddedPort>> fs = new ArrayList<>();
            String prefix = unique("wc");
            for (int i = 0; i < 24; i++) {
                String name = prefix + i;
                fs.add(pool.submit(() -> client.addPort(ovs.bridge, PortSpec.of(name, "internal"), Duration.ofSeconds(20))));
            }
            Set<Integer> ofports = new HashSet<>();
            for (Future<AddedPort> f : fs) {
                AddedPort a = f.get();
                assertTrue(a.ofport() > 0);
                ofports.add(a.ofport());
                assertTrue(client.deletePort(ovs.bridge, a.name()));
            }
            assertEquals(24, ofports.size());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void survivesAnOvsdbServerRestart() throws Exception {
        assertTrue(client.bridgeExists(ovs.bridge));
        ovs.restartOvsdbServer();
        // The next call notices the dead socket and reconnects to the new server.
        assertTrue(client.bridgeExists(ovs.bridge));
        String name = unique("wtr");
        AddedPort a = client.addPort(ovs.bridge, PortSpec.of(name, "internal"), Duration.ofSeconds(20));
        assertTrue(a.ofport() > 0);
        assertTrue(client.deletePort(ovs.bridge, name));
    }

    @Test
    void createInspectAndRepairABridge() throws Exception {
        String name = unique("wb");
        try {
            OvsBridge created = client.createBridge(new BridgeSpec(name, "netdev", "secure", List.of("OpenFlow10", "OpenFlow13"),
                    Map.of("weft.dev/owner", "test"), Map.of("hwaddr", "0a:00:00:00:00:99")));
            assertEquals(name, created.name());
            assertEquals("netdev", created.datapathType());
            assertEquals("secure", created.failMode());
            assertEquals(Set.of("OpenFlow10", "OpenFlow13"), Set.copyOf(created.protocols()));
            assertEquals(Map.of("weft.dev/owner", "test"), created.externalIds());
            assertEquals(1, created.portCount());
            // What ovs-vsctl sees: the bridge in Open_vSwitch.bridges with its local internal port.
            assertTrue(ovs.vsctl("list-br").lines().anyMatch(name::equals));
            assertEquals("internal", ovs.vsctl("get", "Interface", name, "type").trim());
            assertEquals("\"0a:00:00:00:00:99\"", ovs.vsctl("get", "Bridge", name, "other_config:hwaddr").trim());

            OvsdbException dup = assertThrows(OvsdbException.class, () -> client.createBridge(
                    new BridgeSpec(name, "netdev", "secure", List.of(), Map.of(), Map.of())));
            assertEquals("a bridge named " + name + " already exists", dup.getMessage());

            ovs.vsctl("set", "Bridge", name, "fail_mode=standalone", "protocols=OpenFlow10");
            assertEquals("standalone", client.getBridge(name).orElseThrow().failMode());
            assertEquals(List.of("OpenFlow10"), client.getBridge(name).orElseThrow().protocols());
            client.setBridgeFailMode(name, "secure");
            client.addBridgeProtocols(name, List.of("OpenFlow13"));
            OvsBridge repaired = client.getBridge(name).orElseThrow();
            assertEquals("secure", repaired.failMode());
            assertEquals(Set.of("OpenFlow10", "OpenFlow13"), Set.copyOf(repaired.protocols()));

            client.setBridgeOtherConfig(name, Map.of("k", "v"), List.of("hwaddr"));
            assertEquals(Map.of("k", "v"), client.getBridge(name).orElseThrow().otherConfig());
            assertTrue(client.getBridge("nosuchbr").isEmpty());
            assertThrows(OvsdbException.class, () -> client.setBridgeFailMode("nosuchbr", "secure"));
        } finally {
            ovs.vsctl("--if-exists", "del-br", name);
        }
    }

    @Test
    void portExternalIdsAndInterfaceColumns() throws Exception {
        String name = unique("wti");
        client.addPort(ovs.bridge, new PortSpec(name, "internal", Map.of(), Map.of("a", "1", "b", "2"), 0), Duration.ofSeconds(10));
        try {
            client.setPortExternalIds(name, Map.of("weft.dev/owner", "x"), List.of("b"));
            assertEquals(Map.of("a", "1", "weft.dev/owner", "x"), client.getPort(name).orElseThrow().externalIds());
            assertEquals("x", ovs.vsctl("get", "Port", name, "external_ids:weft.dev/owner").trim().replace("\"", ""));

            client.updateInterface(name, InterfaceUpdate.none().mac("0a:58:0a:00:00:01").mtuRequest(1400));
            assertEquals("\"0a:58:0a:00:00:01\"", ovs.vsctl("get", "Interface", name, "mac").trim());
            assertEquals("1400", ovs.vsctl("get", "Interface", name, "mtu_request").trim());
            assertEquals(ovs.bridge, client.bridgeOfPort(name).orElseThrow());
            assertThrows(OvsdbException.class, () -> client.updateInterface("nosuchif", InterfaceUpdate.none().mac("0a:00:00:00:00:02")));
            assertThrows(OvsdbException.class, () -> client.setPortExternalIds("nosuchport", Map.of("k", "v"), List.of()));
        } finally {
            client.deletePort(ovs.bridge, name);
        }
    }
}
