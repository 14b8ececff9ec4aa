package dev.weft.agent.ovsdb;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * The Open_vSwitch database as the agent uses it: bridges (creation, inspection, fail_mode, protocols,
 * external_ids, other_config), ports and interfaces. Domain operations only: the JSON-RPC is {@link OvsdbTransport},
 * the operations are built with {@link Op}. Each method is one transaction (or a read followed by one), so what it
 * changes is applied whole or not at all.
 *
 * <p>Thread-safe; calls block the calling thread (never call from an event loop).
 */
public class OvsdbClient implements AutoCloseable {

    public static final String DATABASE = "Open_vSwitch";
    private static final JsonNodeFactory N = JsonNodeFactory.instance;
    private static final String[] PORT_COLUMNS = {"_uuid", "name", "interfaces", "external_ids"};
    private static final String[] INTERFACE_COLUMNS = {"_uuid", "name", "type", "ofport", "external_ids", "options", "error"};

    private final OvsdbTransport transport;

    public OvsdbClient(Path socket, Duration requestTimeout) {
        this(new OvsdbTransport(socket, requestTimeout));
    }

    public OvsdbClient(OvsdbTransport transport) {
        this.transport = transport;
    }

    public Path socket() {
        return transport.socket();
    }

    private List<OpResult> transact(Op... ops) throws OvsdbException {
        return transport.transact(DATABASE, List.of(ops));
    }

    // ------------------------------------------------------------------ server

    /** The databases the server holds (RFC 7047 list_dbs). */
    public List<String> listDbs() throws OvsdbException {
        JsonNode r = transport.call("list_dbs", N.arrayNode());
        if (!r.isArray()) {
            throw new OvsdbException("OVSDB list_dbs: malformed reply (not an array): " + OpResult.abbreviate(r));
        }
        List<String> dbs = new ArrayList<>();
        for (JsonNode n : r) {
            if (!n.isTextual()) {
                throw new OvsdbException("OVSDB list_dbs: malformed reply (a name that is not a string): " + OpResult.abbreviate(r));
            }
            dbs.add(n.asText());
        }
        return dbs;
    }

    /** Open vSwitch's version (Open_vSwitch.ovs_version, written by ovs-ctl); empty if nobody wrote it. */
    public String ovsVersion() throws OvsdbException {
        Optional<ResultRow> row = transact(Op.select("Open_vSwitch", Where.all(), "ovs_version")).get(0).firstRow();
        return row.isEmpty() ? "" : row.get().optionalString("ovs_version");
    }

    /** The OVSDB schema version of the Open_vSwitch database (e.g. 8.3.1). */
    public String schemaVersion() throws OvsdbException {
        JsonNode version = transport.call("get_schema", N.arrayNode().add(DATABASE)).get("version");
        if (version == null || !version.isTextual()) {
            throw new OvsdbException("OVSDB get_schema: reply without a version string");
        }
        return version.asText();
    }

    // ------------------------------------------------------------------ bridges

    public boolean bridgeExists(String bridge) throws OvsdbException {
        return !transact(Op.select("Bridge", Where.name(bridge), "name")).get(0).rows().isEmpty();
    }

    /** The bridge's row, if there is one. */
    public Optional<OvsBridge> getBridge(String name) throws OvsdbException {
        Optional<ResultRow> row = transact(Op.select("Bridge", Where.name(name), "_uuid", "name", "datapath_type",
                "fail_mode", "protocols", "external_ids", "other_config", "ports")).get(0).firstRow();
        if (row.isEmpty()) {
            return Optional.empty();
        }
        ResultRow r = row.get();
        return Optional.of(new OvsBridge(r.uuid(), r.string("name"), r.string("datapath_type"), r.optionalString("fail_mode"),
                r.strings("protocols"), r.map("external_ids"), r.map("other_config"), r.uuids("ports").size()));
    }

    /**
     * Creates a bridge with its local internal port, in one transaction. Fails, changing nothing, when a bridge of
     * that name exists or the database has no Open_vSwitch row (ovs-vswitchd's start-up scripts were never run).
     */
    public OvsBridge createBridge(BridgeSpec spec) throws OvsdbException {
        Row bridge = Row.empty().with("name", spec.name()).with("datapath_type", spec.datapathType())
                .with("protocols", Datum.stringSet(spec.protocols()))
                .with("ports", Datum.refSet(List.of(Datum.namedUuid("port"))))
                .withMap("external_ids", spec.externalIds()).withMap("other_config", spec.otherConfig());
        if (!spec.failMode().isEmpty()) {
            bridge = bridge.with("fail_mode", spec.failMode());
        }
        try {
            transact(
                    Op.requireNoRow("Bridge", Where.name(spec.name())),
                    Op.requireRow("Open_vSwitch", Where.all()),
                    Op.insert("Interface", Row.empty().with("name", spec.name()).with("type", "internal"), "iface"),
                    Op.insert("Port", Row.empty().with("name", spec.name())
                            .with("interfaces", Datum.refSet(List.of(Datum.namedUuid("iface")))), "port"),
                    Op.insert("Bridge", bridge, "bridge"),
                    Op.mutate("Open_vSwitch", Where.all(),
                            Mutation.insert("bridges", Datum.refSet(List.of(Datum.namedUuid("bridge"))))),
                    Op.comment("weft: create bridge " + spec.name()));
        } catch (TransactionFailed e) {
            if (e.isTimedOutWait(0)) {
                throw new OvsdbException("a bridge named " + spec.name() + " already exists");
            }
            if (e.isTimedOutWait(1)) {
                throw new OvsdbException("the Open_vSwitch database has no Open_vSwitch row (run ovs-vsctl init)");
            }
            throw e;
        }
        return getBridge(spec.name()).orElseThrow(() -> new OvsdbException("bridge " + spec.name() + " vanished after creation"));
    }

    /** Sets Bridge.fail_mode ({@code secure} or {@code standalone}). */
    public void setBridgeFailMode(String bridge, String failMode) throws OvsdbException {
        requireMatched(bridge, transact(Op.update("Bridge", Where.name(bridge), Row.empty().with("fail_mode", failMode))).get(0));
    }

    /** Adds OpenFlow versions to Bridge.protocols; those already there, and any others, stay. */
    public void addBridgeProtocols(String bridge, Collection<String> protocols) throws OvsdbException {
        requireMatched(bridge, transact(Op.mutate("Bridge", Where.name(bridge),
                Mutation.insert("protocols", Datum.stringSet(protocols)))).get(0));
    }

    /** The bridge's external_ids (where the agent keeps small durable facts such as the flow round). */
    public Map<String, String> getBridgeExternalIds(String bridge) throws OvsdbException {
        return getBridge(bridge).orElseThrow(() -> new OvsdbException("no bridge " + bridge)).externalIds();
    }

    /** Sets (adds or replaces) the given keys of the bridge's external_ids and removes {@code remove}; others stay. */
    public void setBridgeExternalIds(String bridge, Map<String, String> put, Collection<String> remove) throws OvsdbException {
        requireMatched(bridge, transact(mutateMap("Bridge", Where.name(bridge), "external_ids", put, remove)).get(0));
    }

    public void setBridgeExternalIds(String bridge, Map<String, String> put) throws OvsdbException {
        setBridgeExternalIds(bridge, put, List.of());
    }

    /**
     * Removes {@code other_config:flow-restore-wait} from the Open_vSwitch row. An ovs-vswitchd started with it set
     * (as the bundle's openvswitch container does) keeps its datapath without flows until it is removed, so the
     * agent clears it only once every flow it has is installed again: a restart of the switch forwards nothing with an
     * empty table. Removing a key that is not there changes nothing.
     */
    public void clearFlowRestoreWait() throws OvsdbException {
        transact(Op.mutate("Open_vSwitch", Where.all(), Mutation.deleteKeys("other_config", List.of("flow-restore-wait"))));
    }

    /** Sets the given keys of the bridge's other_config and removes {@code remove}; others stay. */
    public void setBridgeOtherConfig(String bridge, Map<String, String> put, Collection<String> remove) throws OvsdbException {
        requireMatched(bridge, transact(mutateMap("Bridge", Where.name(bridge), "other_config", put, remove)).get(0));
    }

    private static void requireMatched(String bridge, OpResult r) throws OvsdbException {
        if (r.count() == 0) {
            throw new OvsdbException("no bridge " + bridge);
        }
    }

    /**
     * A map "delete" by a set of keys, then "insert" of the new pairs: set semantics for exactly these keys, atomic
     * in the server, so keys other writers own are never lost.
     */
    private static Op mutateMap(String table, Where where, String column, Map<String, String> put, Collection<String> remove) {
        List<String> deleted = new ArrayList<>(put.keySet());
        deleted.addAll(remove);
        List<Mutation> mutations = new ArrayList<>(List.of(Mutation.deleteKeys(column, deleted)));
        if (!put.isEmpty()) {
            mutations.add(Mutation.insertPairs(column, put));
        }
        return Op.mutate(table, where, mutations);
    }

    // ------------------------------------------------------------------ ports and interfaces

    /**
     * Adds a port (Port + Interface rows) to a bridge in one transaction, then waits until ovs-vswitchd has assigned
     * its OpenFlow port. Fails, changing nothing, when the bridge does not exist or a port of that name already does.
     *
     * @throws OvsdbException also when ovs-vswitchd could not attach the interface (ofport -1), naming its error;
     *                        the port is then removed again so that nothing is left half-done
     */
    public AddedPort addPort(String bridge, PortSpec spec, Duration ofportTimeout) throws OvsdbException {
        Row iface = Row.empty().with("name", spec.name()).with("type", spec.type())
                .withMap("options", spec.options()).withMap("external_ids", spec.externalIds());
        if (spec.ofportRequest() > 0) {
            iface = iface.with("ofport_request", spec.ofportRequest());
        }
        Row port = Row.empty().with("name", spec.name())
                .with("interfaces", Datum.refSet(List.of(Datum.namedUuid("iface"))))
                .withMap("external_ids", spec.externalIds());
        List<OpResult> r;
        try {
            r = transact(
                    // Guards evaluated atomically with the insert: the bridge exists, the port name is free.
                    Op.requireRow("Bridge", Where.name(bridge)),
                    Op.requireNoRow("Port", Where.name(spec.name())),
                    Op.insert("Interface", iface, "iface"),
                    Op.insert("Port", port, "port"),
                    Op.mutate("Bridge", Where.name(bridge), Mutation.insert("ports", Datum.refSet(List.of(Datum.namedUuid("port"))))),
                    Op.comment("weft: add port " + spec.name()));
        } catch (TransactionFailed e) {
            if (e.isTimedOutWait(0)) {
                throw new OvsdbException("no bridge " + bridge);
            }
            if (e.isTimedOutWait(1)) {
                throw new OvsdbException("a port named " + spec.name() + " already exists");
            }
            throw e;
        }
        String ifaceUuid = r.get(2).uuid();
        String portUuid = r.get(3).uuid();
        int ofport;
        try {
            ofport = awaitOfport(Where.uuid(ifaceUuid), spec.name(), ofportTimeout);
        } catch (OvsdbException e) {
            try {
                deletePort(bridge, spec.name());
            } catch (OvsdbException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
        return new AddedPort(spec.name(), portUuid, ifaceUuid, ofport);
    }

    /**
     * Waits until the interface has an OpenFlow port (server side, with an RFC 7047 {@code wait}: no polling), e.g.
     * after its type was changed. Returns the ofport.
     *
     * @throws OvsdbException when ovs-vswitchd could not attach it (ofport -1, naming Interface.error) or in time
     */
    public int awaitOfport(String interfaceName, Duration timeout) throws OvsdbException {
        return awaitOfport(Where.name(interfaceName), interfaceName, timeout);
    }

    private int awaitOfport(Where iface, String name, Duration timeout) throws OvsdbException {
        List<OpResult> r;
        try {
            r = transact(
                    Op.waitUntil("Interface", iface, Op.Until.NOT_EQUAL, List.of(Row.empty().with("ofport", Datum.emptySet())),
                            timeout, "ofport"),
                    Op.select("Interface", iface, "ofport", "error"));
        } catch (TransactionFailed e) {
            if (e.isTimedOutWait(0)) {
                throw new OvsdbException("ovs-vswitchd assigned no OpenFlow port to " + name + " within "
                        + timeout.toMillis() + " ms (is ovs-vswitchd running?)");
            }
            throw e;
        }
        ResultRow row = r.get(1).firstRow().orElseThrow(
                () -> new OvsdbException("interface " + name + " disappeared while waiting for its OpenFlow port"));
        int ofport = row.optionalInt("ofport");
        if (ofport < 0) {
            throw new OvsdbException("ovs-vswitchd could not attach " + name + ": " + row.optionalString("error"));
        }
        return ofport;
    }

    /**
     * Asks ovs-vswitchd to keep giving the interface this OpenFlow port ({@code ofport_request}). Without it the
     * number survives an ovs-vswitchd restart only as a hint: a port added while ovs-vswitchd was down has none and may
     * be given the number first, and the interface that had it gets another one. Requested numbers are assigned
     * before the others.
     */
    public void requestOfport(String interfaceName, int ofport) throws OvsdbException {
        if (ofport < 1 || ofport > 65279) {
            throw new IllegalArgumentException("ofport_request out of range 1..65279: " + ofport);
        }
        if (transact(Op.update("Interface", Where.name(interfaceName), Row.empty().with("ofport_request", ofport)))
                .get(0).count() == 0) {
            throw new OvsdbException("no interface " + interfaceName);
        }
    }

    /** Removes the port from the bridge (its Port and Interface rows go with it). False when there was none. */
    public boolean deletePort(String bridge, String name) throws OvsdbException {
        Optional<ResultRow> port = transact(Op.select("Port", Where.name(name), "_uuid")).get(0).firstRow();
        if (port.isEmpty()) {
            return false;
        }
        List<OpResult> r = transact(
                Op.mutate("Bridge", Where.name(bridge), Mutation.delete("ports", Datum.refSet(List.of(Datum.uuid(port.get().uuid()))))),
                Op.comment("weft: delete port " + name));
        return r.get(0).count() > 0;
    }

    /** Deletes a port by name whichever bridge holds it. False when there was none. */
    public boolean deletePort(String name) throws OvsdbException {
        Optional<String> bridge = bridgeOfPort(name);
        return bridge.isPresent() && deletePort(bridge.get(), name);
    }

    /** The bridge a port (by name) is on, if it exists and is on one. */
    public Optional<String> bridgeOfPort(String name) throws OvsdbException {
        List<OpResult> r = transact(Op.select("Port", Where.name(name), "_uuid"), Op.select("Bridge", Where.all(), "name", "ports"));
        Optional<ResultRow> port = r.get(0).firstRow();
        if (port.isEmpty()) {
            return Optional.empty();
        }
        String uuid = port.get().uuid();
        for (ResultRow b : r.get(1).rows()) {
            if (b.uuids("ports").contains(uuid)) {
                return Optional.of(b.string("name"));
            }
        }
        return Optional.empty();
    }

    /** The ports of a bridge with their interfaces, ofports and external_ids, sorted by name. */
    public List<OvsPort> listPorts(String bridge) throws OvsdbException {
        List<OpResult> r = transact(Op.select("Bridge", Where.name(bridge), "ports"),
                Op.select("Port", Where.all(), PORT_COLUMNS),
                Op.select("Interface", Where.all(), INTERFACE_COLUMNS));
        ResultRow b = r.get(0).firstRow().orElseThrow(() -> new OvsdbException("no bridge " + bridge));
        List<String> portUuids = b.uuids("ports");
        return ports(r.get(1).rows(), r.get(2).rows(), portUuids::contains);
    }

    /** A port by name on any bridge. */
    public Optional<OvsPort> getPort(String name) throws OvsdbException {
        List<OpResult> r = transact(
                Op.select("Port", Where.name(name), PORT_COLUMNS),
                Op.select("Interface", Where.name(name), INTERFACE_COLUMNS));
        return ports(r.get(0).rows(), r.get(1).rows(), u -> true).stream().findFirst();
    }

    /**
     * Sets the given keys of a port's external_ids (on its Port and its Interface, as {@link #addPort} writes them)
     * and removes {@code remove}; other keys stay.
     */
    public void setPortExternalIds(String name, Map<String, String> put, Collection<String> remove) throws OvsdbException {
        List<OpResult> r = transact(mutateMap("Port", Where.name(name), "external_ids", put, remove),
                mutateMap("Interface", Where.name(name), "external_ids", put, remove));
        if (r.get(0).count() == 0) {
            throw new OvsdbException("no port " + name);
        }
    }

    /** Sets columns of an interface (by name). Fails when there is none. */
    public void updateInterface(String name, InterfaceUpdate update) throws OvsdbException {
        Row row = update.row();
        if (row.isEmpty()) {
            return;
        }
        if (transact(Op.update("Interface", Where.name(name), row)).get(0).count() == 0) {
            throw new OvsdbException("no interface " + name);
        }
    }

    private static List<OvsPort> ports(List<ResultRow> portRows, List<ResultRow> ifaceRows, Predicate<String> keep) throws OvsdbException {
        Map<String, ResultRow> ifaces = new HashMap<>();
        for (ResultRow i : ifaceRows) {
            ifaces.put(i.uuid(), i);
        }
        List<OvsPort> out = new ArrayList<>();
        for (ResultRow p : portRows) {
            String portUuid = p.uuid();
            if (!keep.test(portUuid)) {
                continue;
            }
            List<String> ifUuids = p.uuids("interfaces");
            ResultRow i = ifUuids.isEmpty() ? null : ifaces.get(ifUuids.get(0));
            Map<String, String> ext = new LinkedHashMap<>();
            if (i != null) {
                ext.putAll(i.map("external_ids"));
            }
            ext.putAll(p.map("external_ids"));
            out.add(new OvsPort(portUuid, i == null ? "" : i.uuid(), p.string("name"),
                    i == null ? "" : i.string("type"), i == null ? 0 : i.optionalInt("ofport"), ext,
                    i == null ? Map.of() : i.map("options"), i == null ? "" : i.optionalString("error")));
        }
        out.sort(Comparator.comparing(OvsPort::name));
        return out;
    }

    @Override
    public void close() {
        transport.close();
    }
}
