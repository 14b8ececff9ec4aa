package dev.weft.agent.ovsdb;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
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
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * RFC 7047 JSON-RPC 1.0 on ovsdb-server's UNIX socket. One connection is shared by all callers (requests are
 * multiplexed by id, so a blocked {@code wait} does not hold others up). When ovsdb-server goes away the pending calls
 * fail and the next call reconnects, retrying until the request timeout: an ovsdb-server restart costs callers a
 * delay, not an error. A peer that sends something that is not JSON-RPC (malformed JSON, a message that is not an
 * object, a reply without result) fails the calls it concerns at once with an {@link OvsdbException} saying so; it
 * is not retried, since a server speaking another protocol will not start speaking this one.
 *
 * <p>Knows JSON-RPC and the shape of {@code transact}, nothing of the Open_vSwitch schema: that is {@link OvsdbClient}.
 * Thread-safe; calls block the calling thread (never call from an event loop).
 */
public final class OvsdbTransport implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(OvsdbTransport.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory N = JsonNodeFactory.instance;

    /**
     * Largest JSON-RPC message read from the server. Open vSwitch's replies to the agent are rows of one bridge's
     * ports (kilobytes to a few megabytes); a peer sending more without ending a message is refused instead of being
     * buffered until the heap is gone.
     */
    static final int MAX_MESSAGE_BYTES = 32 * 1024 * 1024;

    private final Path socket;
    private final Duration requestTimeout;
    private final int maxMessageBytes;
    private final AtomicLong ids = new AtomicLong();
    private final Object connectLock = new Object();
    private volatile Connection connection;
    private volatile boolean closed;

    public OvsdbTransport(Path socket, Duration requestTimeout) {
        this(socket, requestTimeout, MAX_MESSAGE_BYTES);
    }

    /** With another bound on one message's size (tests). */
    OvsdbTransport(Path socket, Duration requestTimeout, int maxMessageBytes) {
        this.socket = socket;
        this.requestTimeout = requestTimeout;
        this.maxMessageBytes = maxMessageBytes;
    }

    public Path socket() {
        return socket;
    }

    /**
     * Runs one transaction. Throws when any operation (or the commit) failed, naming the first error; the server has
     * then applied nothing. The reply is checked to have one result per operation.
     */
    public List<OpResult> transact(String database, List<Op> operations) throws OvsdbException {
        ArrayNode params = N.arrayNode().add(database);
        boolean mutating = false;
        Duration waits = Duration.ZERO;
        for (Op op : operations) {
            params.add(op.json());
            mutating |= op.mutating();
            waits = waits.plus(op.waitTimeout());
        }
        // A transaction that waits server-side gets that long on top of the usual time to answer.
        JsonNode result = call("transact", params, !mutating, requestTimeout.plus(waits));
        if (!result.isArray()) {
            throw new OvsdbException("OVSDB transact: malformed reply (not an array): " + OpResult.abbreviate(result));
        }
        for (int i = 0; i < result.size(); i++) {
            JsonNode r = result.get(i);
            JsonNode e = r == null ? null : r.get("error");
            if (e != null && !e.isNull()) {
                String op = i < operations.size() ? operations.get(i).describe() : "commit";
                throw new TransactionFailed("OVSDB " + op + ": " + e.asText()
                        + (r.hasNonNull("details") ? " (" + r.get("details").asText() + ")" : ""), i, e.asText());
            }
        }
        if (result.size() < operations.size()) {
            throw new OvsdbException("OVSDB transact: " + result.size() + " results for " + operations.size()
                    + " operations: " + OpResult.abbreviate(result));
        }
        List<OpResult> out = new ArrayList<>(operations.size());
        for (int i = 0; i < operations.size(); i++) {
            JsonNode r = result.get(i);
            if (!r.isObject()) {
                throw new OvsdbException("OVSDB " + operations.get(i).describe() + ": malformed result: "
                        + OpResult.abbreviate(r));
            }
            out.add(new OpResult(operations.get(i), r));
        }
        return out;
    }

    /** One JSON-RPC call that does not change the database (list_dbs, get_schema, ...): retried on reconnect. */
    public JsonNode call(String method, ArrayNode params) throws OvsdbException {
        return call(method, params, true, requestTimeout);
    }

    /**
     * One JSON-RPC call; reconnects (until the timeout) when the server is gone. A call that may change the database
     * is resent only if it was never written to the socket: a transact that reached the server may have committed.
     */
    private JsonNode call(String method, ArrayNode params, boolean resendable, Duration timeout) throws OvsdbException {
        long deadline = System.nanoTime() + timeout.toNanos();
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
                throw new OvsdbException("OVSDB " + method + " got no reply within " + timeout.toMillis() + " ms");
            } catch (InterruptedException e) {
                c.forget(reply);
                Thread.currentThread().interrupt();
                throw new OvsdbException("interrupted", e);
            } catch (ExecutionException e) {
                if (e.getCause() instanceof ConnectionLost lost) {
                    last = new OvsdbException("OVSDB connection lost during " + method + ": " + lost.getMessage(), lost);
                    if (!lost.neverSent && !resendable) {
                        throw last;
                    }
                    continue;
                }
                if (e.getCause() instanceof OvsdbException oe) {
                    throw new OvsdbException(oe.getMessage(), oe);
                }
                throw new OvsdbException("OVSDB " + method + " failed: " + e.getCause(), e.getCause());
            }
        }
    }

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

    /** Completes pending calls when the socket dies: they may be retried on a new connection. */
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
        /** Set when the peer broke the protocol: what every call on this connection fails with (not retried). */
        volatile OvsdbException protocolError;

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
                f.completeExceptionally(deathCause(e.getMessage(), true));
                close();
            }
            if (dead) {
                // The reader died between put and here: it may have missed this entry.
                CompletableFuture<JsonNode> still = pending.remove(id);
                if (still != null) {
                    still.completeExceptionally(deathCause("connection closed", false));
                }
            }
            return f;
        }

        private Exception deathCause(String message, boolean neverSent) {
            OvsdbException broken = protocolError;
            return broken != null ? broken : new ConnectionLost(message, neverSent);
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
            ChannelInput input = new ChannelInput(channel, maxMessageBytes);
            try (JsonParser parser = new JsonFactory(JSON).createParser(input)) {
                while (true) {
                    JsonToken t = parser.nextToken();
                    if (t == null) {
                        break;
                    }
                    JsonNode msg = JSON.readTree(parser);
                    input.messageDone();
                    dispatch(msg);
                }
            } catch (JsonProcessingException e) {
                protocolError = new OvsdbException("OVSDB at " + socket + " sent malformed JSON: " + e.getOriginalMessage(), e);
                why = e.getOriginalMessage();
            } catch (ProtocolViolation e) {
                protocolError = new OvsdbException("OVSDB at " + socket + " broke JSON-RPC: " + e.getMessage());
                why = e.getMessage();
            } catch (IOException e) {
                why = e.getMessage();
            } finally {
                dead = true;
                close();
                if (protocolError != null) {
                    LOG.warn(protocolError.getMessage());
                }
                for (Iterator<CompletableFuture<JsonNode>> it = pending.values().iterator(); it.hasNext(); ) {
                    CompletableFuture<JsonNode> f = it.next();
                    it.remove();
                    f.completeExceptionally(deathCause(why, false));
                }
            }
        }

        private void dispatch(JsonNode msg) throws IOException {
            if (!msg.isObject()) {
                throw new ProtocolViolation("a message that is not a JSON object: " + OpResult.abbreviate(msg));
            }
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
                return; // a reply to nobody we know (e.g. OvsdbProbe's string ids never use this connection)
            }
            CompletableFuture<JsonNode> f = pending.remove(id.asLong());
            if (f == null) {
                return;
            }
            JsonNode error = msg.get("error");
            JsonNode result = msg.get("result");
            if (error != null && !error.isNull()) {
                f.completeExceptionally(new OvsdbException("OVSDB error: " + OpResult.abbreviate(error)));
            } else if (result == null || result.isNull()) {
                f.completeExceptionally(new OvsdbException("OVSDB at " + socket + " broke JSON-RPC: a reply without result: "
                        + OpResult.abbreviate(msg)));
            } else {
                f.complete(result);
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

    /** The peer sent valid JSON that is no JSON-RPC message. */
    private static final class ProtocolViolation extends IOException {
        ProtocolViolation(String message) {
            super(message);
        }
    }

    /**
     * Blocking reads straight from the channel; reads and writes then use separate locks (no stream wrappers). Counts
     * the bytes read since the last complete message and refuses to read on past {@code maxMessageBytes} (the
     * parser reads ahead by one buffer, so the bound is met within a few KiB).
     */
    private static final class ChannelInput extends InputStream {
        private final SocketChannel ch;
        private final int maxMessageBytes;
        private long sinceLastMessage;

        ChannelInput(SocketChannel ch, int maxMessageBytes) {
            this.ch = ch;
            this.maxMessageBytes = maxMessageBytes;
        }

        void messageDone() {
            sinceLastMessage = 0;
        }

        @Override
        public int read() throws IOException {
            byte[] b = new byte[1];
            int n = read(b, 0, 1);
            return n < 0 ? -1 : b[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (sinceLastMessage > maxMessageBytes) {
                throw new ProtocolViolation("a message larger than " + maxMessageBytes + " bytes (" + sinceLastMessage
                        + " read without its end); refused");
            }
            int n = ch.read(ByteBuffer.wrap(b, off, len));
            if (n > 0) {
                sinceLastMessage += n;
            }
            return n;
        }
    }
}
