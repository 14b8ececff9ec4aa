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
}
