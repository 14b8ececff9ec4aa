package dev.weft.agent.ovsdb;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.jboss.logging.Logger;

import java.io.IOException;
import java.io.InputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * OVSDB management protocol client (RFC 7047, JSON-RPC 1.0) on ovsdb-server's UNIX socket, for the Open_vSwitch
 * database. One connection is shared by all callers (requests are multiplexed by id, so a blocked {@code wait}
 * does not hold others up); when ovsdb-server goes away the pending calls fail and the next call reconnects, retrying
 * until the request timeout, so an ovsdb-server restart costs callers a delay, not an error.
 *
 * <p>Thread-safe; calls block the calling thread (never call from an event loop).
 */
public class OvsdbClient implements AutoCloseable {

    public static final String DATABASE = "Open_vSwitch";
    private static final Logger LOG = Logger.getLogger(OvsdbClient.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory N = JsonNodeFactory.instance;

    private final Path socket;
    private final Duration requestTimeout;
    private final AtomicLong ids = new AtomicLong();
    private final Object connectLock = new Object();
    private volatile Connection connection;
    private volatile boolean closed;

    public OvsdbClient(Path socket, Duration requestTimeout) {
        this.socket = socket;
        this.requestTimeout = requestTimeout;
    }

    public Path socket() {
        return socket;
    }

    // ------------------------------------------------------------------ high-level operations

    /** The databases the server holds (RFC 7047 list_dbs). */
    public List<String> listDbs() throws OvsdbException {
        List<String> dbs = new ArrayList<>();
        call("list_dbs", N.arrayNode()).forEach(n -> dbs.add(n.asText()));
        return dbs;
    }

    /** Open vSwitch's version (Open_vSwitch.ovs_version, written by ovs-vswitchd); empty if nobody wrote it. */
    public String ovsVersion() throws OvsdbException {
        ArrayNode r = transact(List.of(select("Open_vSwitch", N.arrayNode(), "ovs_version")));
        JsonNode rows = r.get(0).path("rows");
        return rows.isEmpty() ? "" : optionalString(rows.get(0).get("ovs_version"));
    }

    /** The OVSDB schema version of the Open_vSwitch database (e.g. 8.3.1). */
    public String schemaVersion() throws OvsdbException {
        return call("get_schema", N.arrayNode().add(DATABASE)).path("version").asText();
    }

    public boolean bridgeExists(String bridge) throws OvsdbException {
        ArrayNode r = transact(List.of(select("Bridge", whereName(bridge), "name")));
        return !r.get(0).path("rows").isEmpty();
    }

    /**
     * Adds a port (Port + Interface rows) to a bridge in one transaction, then waits until ovs-vswitchd has assigned
     * its OpenFlow port. Fails, changing nothing, when the bridge does not exist or a port of that name already does.
     *
     * @throws OvsdbException also when ovs-vswitchd could not attach the interface (ofport -1), naming its error;
     *                        the port is then removed again so that nothing is left half-done
     */
    public AddedPort addPort(String bridge, PortSpec spec, Duration ofportTimeout) throws OvsdbException {
        ObjectNode iface = N.objectNode().put("name", spec.name()).put("type", spec.type());
        iface.set("options", map(spec.options()));
        iface.set("external_ids", map(spec.externalIds()));
        if (spec.ofportRequest() > 0) {
            iface.put("ofport_request", spec.ofportRequest());
        }
        ObjectNode port = N.objectNode().put("name", spec.name());
        port.set("interfaces", namedUuid("iface"));
        port.set("external_ids", map(spec.externalIds()));
        ObjectNode bridgeMutation = N.objectNode().put("op", "mutate").put("table", "Bridge");
        bridgeMutation.set("where", whereName(bridge));
        bridgeMutation.set("mutations", N.arrayNode().add(N.arrayNode().add("ports").add("insert")
                .add(set(List.of(namedUuid("port"))))));
        List<ObjectNode> ops = List.of(
                // Guards evaluated atomically with the insert: the bridge exists, the port name is free.
                waitRows("Bridge", whereName(bridge), "name", "==", N.arrayNode().add(N.objectNode().put("name", bridge)), 0),
                waitRows("Port", whereName(spec.name()), "name", "==", N.arrayNode(), 0),
                insert("Interface", iface, "iface"),
                insert("Port", port, "port"),
                bridgeMutation,
                comment("weft: add port " + spec.name()));
        ArrayNode r;
        try {
            r = transact(ops);
        } catch (OvsdbException e) {
            if (e.getMessage().contains("timed out")) {
                // One of the guards failed; find out which to say it plainly.
                if (!bridgeExists(bridge)) {
                    throw new OvsdbException("no bridge " + bridge);
                }
                throw new OvsdbException("a port named " + spec.name() + " already exists");
            }
            throw e;
        }
        String ifaceUuid = r.get(2).path("uuid").get(1).asText();
        String portUuid = r.get(3).path("uuid").get(1).asText();
        int ofport;
        try {
            ofport = awaitOfport(ifaceUuid, spec.name(), ofportTimeout);
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
     * Waits (server-side, with an RFC 7047 {@code wait} operation: no polling) until the interface has an ofport.
     */
    private int awaitOfport(String ifaceUuid, String name, Duration timeout) throws OvsdbException {
        ArrayNode whereUuid = N.arrayNode().add(N.arrayNode().add("_uuid").add("==").add(uuid(ifaceUuid)));
        ObjectNode unassigned = N.objectNode();
        unassigned.set("ofport", set(List.of()));
        ArrayNode r;
        try {
            r = transact(List.of(
                    waitRows("Interface", whereUuid, "ofport", "!=", N.arrayNode().add(unassigned), timeout.toMillis()),
                    select("Interface", whereUuid, "ofport", "error")));
        } catch (OvsdbException e) {
            if (e.getMessage().contains("timed out")) {
                throw new OvsdbException("ovs-vswitchd assigned no OpenFlow port to " + name + " within "
                        + timeout.toMillis() + " ms (is ovs-vswitchd running?)");
            }
            throw e;
        }
        JsonNode rows = r.get(1).path("rows");
        if (rows.isEmpty()) {
            throw new OvsdbException("interface " + name + " disappeared while waiting for its OpenFlow port");
        }
        int ofport = optionalInt(rows.get(0).get("ofport"));
        if (ofport < 0) {
            throw new OvsdbException("ovs-vswitchd could not attach " + name + ": " + optionalString(rows.get(0).get("error")));
        }
        return ofport;
    }

    /** Removes the port from the bridge (its Port and Interface rows go with it). False when there was none. */
    public boolean deletePort(String bridge, String name) throws OvsdbException {
        ArrayNode r = transact(List.of(select("Port", whereName(name), "_uuid")));
        JsonNode rows = r.get(0).path("rows");
        if (rows.isEmpty()) {
            return false;
        }
        JsonNode portUuid = rows.get(0).get("_uuid");
        ObjectNode mutation = N.objectNode().put("op", "mutate").put("table", "Bridge");
        mutation.set("where", whereName(bridge));
        mutation.set("mutations", N.arrayNode().add(N.arrayNode().add("ports").add("delete").add(portUuid)));
        ArrayNode m = transact(List.of(mutation, comment("weft: delete port " + name)));
        return m.get(0).path("count").asInt() > 0;
    }

    /** Deletes a port by name whichever bridge holds it. False when there was none. */
    public boolean deletePort(String name) throws OvsdbException {
        Optional<String> bridge = bridgeOfPort(name);
        return bridge.isPresent() && deletePort(bridge.get(), name);
    }

    private Optional<String> bridgeOfPort(String name) throws OvsdbException {
        ArrayNode r = transact(List.of(select("Port", whereName(name), "_uuid"),
                select("Bridge", N.arrayNode(), "name", "ports")));
        JsonNode rows = r.get(0).path("rows");
        if (rows.isEmpty()) {
            return Optional.empty();
        }
        String uuid = rows.get(0).get("_uuid").get(1).asText();
        for (JsonNode b : r.get(1).path("rows")) {
            if (uuids(b.get("ports")).contains(uuid)) {
                return Optional.of(b.get("name").asText());
            }
        }
        return Optional.empty();
    }

    /** The ports of a bridge with their interfaces, ofports and external_ids, sorted by name. */
    public List<OvsPort> listPorts(String bridge) throws OvsdbException {
        ArrayNode r = transact(List.of(select("Bridge", whereName(bridge), "ports"),
                select("Port", N.arrayNode(), "_uuid", "name", "interfaces", "external_ids"),
                select("Interface", N.arrayNode(), "_uuid", "name", "type", "ofport", "external_ids", "options", "error")));
        JsonNode bridges = r.get(0).path("rows");
        if (bridges.isEmpty()) {
            throw new OvsdbException("no bridge " + bridge);
        }
        List<String> portUuids = uuids(bridges.get(0).get("ports"));
        return ports(r.get(1).path("rows"), r.get(2).path("rows"), portUuids::contains);
    }

    /** A port by name on any bridge. */
    public Optional<OvsPort> getPort(String name) throws OvsdbException {
        ArrayNode r = transact(List.of(
                select("Port", whereName(name), "_uuid", "name", "interfaces", "external_ids"),
                select("Interface", whereName(name), "_uuid", "name", "type", "ofport", "external_ids", "options", "error")));
        return ports(r.get(0).path("rows"), r.get(1).path("rows"), u -> true).stream().findFirst();
    }

    private static List<OvsPort> ports(JsonNode portRows, JsonNode ifaceRows, java.util.function.Predicate<String> keep) {
        Map<String, JsonNode> ifaces = new HashMap<>();
        for (JsonNode i : ifaceRows) {
            ifaces.put(i.get("_uuid").get(1).asText(), i);
        }
        List<OvsPort> out = new ArrayList<>();
        for (JsonNode p : portRows) {
            String portUuid = p.get("_uuid").get(1).asText();
            if (!keep.test(portUuid)) {
                continue;
            }
            List<String> ifUuids = uuids(p.get("interfaces"));
            JsonNode i = ifUuids.isEmpty() ? null : ifaces.get(ifUuids.get(0));
            Map<String, String> ext = new LinkedHashMap<>();
            if (i != null) {
                ext.putAll(readMap(i.get("external_ids")));
            }
            ext.putAll(readMap(p.get("external_ids")));
            out.add(new OvsPort(portUuid, i == null ? "" : i.get("_uuid").get(1).asText(), p.get("name").asText(),
                    i == null ? "" : i.get("type").asText(), i == null ? 0 : optionalInt(i.get("ofport")), ext,
                    i == null ? Map.of() : readMap(i.get("options")), i == null ? "" : optionalString(i.get("error"))));
        }
        out.sort(java.util.Comparator.comparing(OvsPort::name));
        return out;
    }

    /** The bridge's external_ids (where the agent keeps small durable facts such as the flow round). */
    public Map<String, String> getBridgeExternalIds(String bridge) throws OvsdbException {
        ArrayNode r = transact(List.of(select("Bridge", whereName(bridge), "external_ids")));
        JsonNode rows = r.get(0).path("rows");
        if (rows.isEmpty()) {
            throw new OvsdbException("no bridge " + bridge);
        }
        return readMap(rows.get(0).get("external_ids"));
    }

    /** Sets (adds or replaces) the given keys of the bridge's external_ids and removes {@code remove}; others stay. */
    public void setBridgeExternalIds(String bridge, Map<String, String> put, Collection<String> remove) throws OvsdbException {
        List<String> deleted = new ArrayList<>(put.keySet());
        deleted.addAll(remove);
        ObjectNode mutation = N.objectNode().put("op", "mutate").put("table", "Bridge");
        mutation.set("where", whereName(bridge));
        ArrayNode mutations = N.arrayNode();
        ArrayNode keys = N.arrayNode();
        deleted.forEach(keys::add);
        // A map "delete" by a set of keys, then "insert" the new pairs: set semantics for exactly these keys.
        mutations.add(N.arrayNode().add("external_ids").add("delete").add(N.arrayNode().add("set").add(keys)));
        if (!put.isEmpty()) {
            mutations.add(N.arrayNode().add("external_ids").add("insert").add(map(put)));
        }
        mutation.set("mutations", mutations);
        ArrayNode r = transact(List.of(mutation));
        if (r.get(0).path("count").asInt() == 0) {
            throw new OvsdbException("no bridge " + bridge);
        }
    }

    public void setBridgeExternalIds(String bridge, Map<String, String> put) throws OvsdbException {
        setBridgeExternalIds(bridge, put, List.of());
    }

    // ------------------------------------------------------------------ RFC 7047 primitives

    /**
     * Runs one transaction on the Open_vSwitch database. Throws when any operation (or the commit) failed, naming
     * the first error; the server has then applied nothing.
     */
    public ArrayNode transact(List<ObjectNode> operations) throws OvsdbException {
        ArrayNode params = N.arrayNode().add(DATABASE);
        operations.forEach(params::add);
        JsonNode result = call("transact", params);
        if (!result.isArray()) {
            throw new OvsdbException("unexpected transact reply: " + result);
        }
        for (int i = 0; i < result.size(); i++) {
            JsonNode e = result.get(i).get("error");
            if (e != null && !e.isNull()) {
                String op = i < operations.size() ? operations.get(i).path("op").asText() + " " + operations.get(i).path("table").asText() : "commit";
                throw new OvsdbException("OVSDB " + op + ": " + e.asText()
                        + (result.get(i).has("details") ? " (" + result.get(i).get("details").asText() + ")" : ""));
            }
        }
        return (ArrayNode) result;
    }

    /** One JSON-RPC call; reconnects (until the request timeout) when the server is gone. */
    public JsonNode call(String method, ArrayNode params) throws OvsdbException {
        long deadline = System.nanoTime() + requestTimeout.toNanos();
        OvsdbException last = null;
        while (true) {
            Connection c;
            try {
                c = connection(deadline);
            } catch (OvsdbException e) {
                throw last != null ? last : e;
            }
            CompletableFuture<JsonNode> reply = c.send(method, params);
            try {
                long left = Math.max(1, deadline - System.nanoTime());
                return reply.get(left, TimeUnit.NANOSECONDS);
            } catch (TimeoutException e) {
                c.forget(reply);
                throw new OvsdbException("OVSDB " + method + " got no reply within " + requestTimeout.toMillis() + " ms");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new OvsdbException("interrupted", e);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof ConnectionLost lost) {
                    // Only read-only or failed-before-commit requests are safe to resend blindly; a transact that
                    // reached the server may have committed. Resend only what was never written to the socket.
                    last = new OvsdbException("OVSDB connection lost during " + method + ": " + lost.getMessage(), lost);
                    if (!lost.neverSent && "transact".equals(method) && isMutating(params)) {
                        throw last;
                    }
                    continue;
                }
                if (e.getCause() instanceof OvsdbException oe) {
                    throw oe;
                }
                throw new OvsdbException("OVSDB " + method + " failed: " + e.getCause(), e.getCause());
            }
        }
    }

    private static boolean isMutating(ArrayNode params) {
        for (JsonNode op : params) {
            String o = op.path("op").asText();
            if (!o.isEmpty() && !o.equals("select") && !o.equals("wait") && !o.equals("comment")) {
                return true;
            }
        }
        return false;
    }

    public static ObjectNode select(String table, ArrayNode where, String... columns) {
        ObjectNode op = N.objectNode().put("op", "select").put("table", table);
        op.set("where", where);
        ArrayNode cols = N.arrayNode();
        for (String c : columns) {
            cols.add(c);
        }
        op.set("columns", cols);
        return op;
    }

    public static ObjectNode insert(String table, ObjectNode row, String uuidName) {
        ObjectNode op = N.objectNode().put("op", "insert").put("table", table);
        op.set("row", row);
        if (uuidName != null) {
            op.put("uuid-name", uuidName);
        }
        return op;
    }

    public static ObjectNode waitRows(String table, ArrayNode where, String column, String until, ArrayNode rows, long timeoutMs) {
        ObjectNode op = N.objectNode().put("op", "wait").put("table", table).put("timeout", timeoutMs);
        op.set("where", where);
        op.set("columns", N.arrayNode().add(column));
        op.put("until", until);
        op.set("rows", rows);
        return op;
    }

    public static ObjectNode comment(String text) {
        return N.objectNode().put("op", "comment").put("comment", text);
    }

    public static ArrayNode whereName(String name) {
        return N.arrayNode().add(N.arrayNode().add("name").add("==").add(name));
    }

    public static ArrayNode uuid(String uuid) {
        return N.arrayNode().add("uuid").add(uuid);
    }

    public static ArrayNode namedUuid(String name) {
        return N.arrayNode().add("named-uuid").add(name);
    }

    public static ArrayNode set(List<? extends JsonNode> atoms) {
        ArrayNode a = N.arrayNode();
        atoms.forEach(a::add);
        return N.arrayNode().add("set").add(a);
    }

    public static ArrayNode map(Map<String, String> m) {
        ArrayNode pairs = N.arrayNode();
        m.forEach((k, v) -> pairs.add(N.arrayNode().add(k).add(v)));
        return N.arrayNode().add("map").add(pairs);
    }

    public static Map<String, String> readMap(JsonNode n) {
        Map<String, String> m = new LinkedHashMap<>();
        // ["map", [[k, v], ...]]; anything else (a malformed reply) reads as empty rather than failing the caller
        if (n != null && n.isArray() && n.size() == 2 && "map".equals(n.get(0).asText()) && n.get(1).isArray()) {
            for (JsonNode pair : n.get(1)) {
                if (pair.isArray() && pair.size() == 2) {
                    m.put(pair.get(0).asText(), pair.get(1).asText());
                }
            }
        }
        return m;
    }

    /** UUIDs of a set-of-uuid column (a single atom or ["set", [...]]). */
    public static List<String> uuids(JsonNode n) {
        List<String> out = new ArrayList<>();
        if (n == null || !n.isArray() || n.size() != 2) {
            return out;
        }
        if ("uuid".equals(n.get(0).asText())) {
            out.add(n.get(1).asText());
        } else if ("set".equals(n.get(0).asText())) {
            for (JsonNode u : n.get(1)) {
                if (u.isArray() && u.size() == 2) {
                    out.add(u.get(1).asText());
                }
            }
        }
        return out;
    }

    /** An optional integer column: a number, or ["set", []] / ["set", [n]]. 0 when empty. */
    static int optionalInt(JsonNode n) {
        if (n == null) {
            return 0;
        }
        if (n.isNumber()) {
            return n.asInt();
        }
        if (n.isArray() && n.size() == 2 && n.get(1).isArray() && !n.get(1).isEmpty()) {
            return n.get(1).get(0).asInt();
        }
        return 0;
    }

    static String optionalString(JsonNode n) {
        if (n == null) {
            return "";
        }
        if (n.isTextual()) {
            return n.asText();
        }
        if (n.isArray() && n.size() == 2 && n.get(1).isArray() && !n.get(1).isEmpty()) {
            return n.get(1).get(0).asText();
        }
        return "";
    }

    // ------------------------------------------------------------------ connection

    private Connection connection(long deadline) throws OvsdbException {
        Connection c = connection;
        if (c != null && c.alive()) {
            return c;
        }
        synchronized (connectLock) {
            c = connection;
            if (c != null && c.alive()) {
                return c;
            }
            IOException last = null;
            long backoffMs = 10;
            while (!closed) {
                try {
                    c = new Connection(SocketChannel.open(StandardProtocolFamily.UNIX));
                    c.channel.connect(UnixDomainSocketAddress.of(socket));
                    c.start();
                    if (connection != null) {
                        LOG.infof("reconnected to OVSDB at %s", socket);
                    }
                    connection = c;
                    return c;
                } catch (IOException e) {
                    last = e;
                    if (c != null) {
                        c.close();
                    }
                }
                if (System.nanoTime() + backoffMs * 1_000_000 > deadline) {
                    break;
                }
                try {
                    Thread.sleep(backoffMs);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
                backoffMs = Math.min(backoffMs * 2, 500);
            }
            throw new OvsdbException(closed ? "OVSDB client closed"
                    : "cannot reach OVSDB at " + socket + ": " + (last == null ? "gave up" : last.getMessage()), last);
        }
    }

    @Override
    public void close() {
        closed = true;
        Connection c = connection;
        if (c != null) {
            c.close();
        }
    }

    /** Thrown to pending callers when the socket dies. */
    private static final class ConnectionLost extends IOException {
        final boolean neverSent;

        ConnectionLost(String message, boolean neverSent) {
            super(message);
            this.neverSent = neverSent;
        }
    }

    /** One socket with a reader thread that completes pending requests by id and answers the server's echo. */
    private final class Connection {
        final SocketChannel channel;
        final Map<Long, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();
        final Object writeLock = new Object();
        volatile boolean dead;

        Connection(SocketChannel channel) {
            this.channel = channel;
        }

        boolean alive() {
            return !dead && channel.isOpen();
        }

        void start() {
            Thread.ofPlatform().daemon().name("ovsdb-reader-" + socket.getFileName()).start(this::readLoop);
        }

        CompletableFuture<JsonNode> send(String method, ArrayNode params) {
            long id = ids.incrementAndGet();
            CompletableFuture<JsonNode> f = new CompletableFuture<>();
            pending.put(id, f);
            ObjectNode msg = N.objectNode().put("method", method).put("id", id);
            msg.set("params", params);
            try {
                write(msg);
            } catch (IOException e) {
                pending.remove(id);
                f.completeExceptionally(new ConnectionLost(e.getMessage(), true));
                close();
            }
            if (dead) {
                // The reader died between put and here: it may have missed this entry.
                CompletableFuture<JsonNode> still = pending.remove(id);
                if (still != null) {
                    still.completeExceptionally(new ConnectionLost("connection closed", false));
                }
            }
            return f;
        }

        void forget(CompletableFuture<JsonNode> f) {
            pending.values().remove(f);
        }

        private void write(JsonNode msg) throws IOException {
            ByteBuffer buf = ByteBuffer.wrap(JSON.writeValueAsBytes(msg));
            synchronized (writeLock) {
                while (buf.hasRemaining()) {
                    channel.write(buf);
                }
            }
        }

        private void readLoop() {
            String why = "closed by the server";
            try (JsonParser parser = new JsonFactory(JSON).createParser(new ChannelInput(channel))) {
                while (true) {
                    JsonToken t = parser.nextToken();
                    if (t == null) {
                        break;
                    }
                    JsonNode msg = JSON.readTree(parser);
                    dispatch(msg);
                }
            } catch (IOException e) {
                why = e.getMessage();
            } finally {
                dead = true;
                close();
                ConnectionLost lost = new ConnectionLost(why, false);
                for (Iterator<CompletableFuture<JsonNode>> it = pending.values().iterator(); it.hasNext(); ) {
                    CompletableFuture<JsonNode> f = it.next();
                    it.remove();
                    f.completeExceptionally(lost);
                }
            }
        }

        private void dispatch(JsonNode msg) throws IOException {
            JsonNode method = msg.get("method");
            if (method != null && !method.isNull()) {
                if ("echo".equals(method.asText())) {
                    ObjectNode reply = N.objectNode();
                    reply.set("result", msg.get("params"));
                    reply.putNull("error");
                    reply.set("id", msg.get("id"));
                    write(reply);
                }
                return; // notifications (update, locked, stolen) are not used
            }
            JsonNode id = msg.get("id");
            if (id == null || !id.canConvertToLong()) {
                return;
            }
            CompletableFuture<JsonNode> f = pending.remove(id.asLong());
            if (f == null) {
                return;
            }
            JsonNode error = msg.get("error");
            if (error != null && !error.isNull()) {
                f.completeExceptionally(new OvsdbException("OVSDB error: " + error));
            } else {
                f.complete(msg.get("result"));
            }
        }

        void close() {
            dead = true;
            try {
                channel.close();
            } catch (IOException e) {
                // closing anyway
            }
        }
    }

    /** Blocking reads straight from the channel; reads and writes then use separate locks (no stream wrappers). */
    private static final class ChannelInput extends InputStream {
        private final SocketChannel ch;

        ChannelInput(SocketChannel ch) {
            this.ch = ch;
        }

        @Override
        public int read() throws IOException {
            byte[] b = new byte[1];
            int n = read(b, 0, 1);
            return n < 0 ? -1 : b[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            return ch.read(ByteBuffer.wrap(b, off, len));
        }
    }
}
