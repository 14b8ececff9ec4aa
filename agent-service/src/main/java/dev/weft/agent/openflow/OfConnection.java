package dev.weft.agent.openflow;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.timeout.IdleState;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import org.jboss.logging.Logger;
import org.projectfloodlight.openflow.protocol.OFErrorMsg;
import org.projectfloodlight.openflow.protocol.OFFactories;
import org.projectfloodlight.openflow.protocol.OFFactory;
import org.projectfloodlight.openflow.protocol.OFHello;
import org.projectfloodlight.openflow.protocol.OFMessage;
import org.projectfloodlight.openflow.protocol.OFVersion;
import org.projectfloodlight.openflow.types.U32;

import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * An OpenFlow 1.3 controller-side connection to one bridge, on Netty: UNIX domain socket (the bridge's
 * {@code .mgmt} socket, through epoll) or TCP (a {@code ptcp:} listener). It negotiates the version (HELLO with a
 * version bitmap, 1.3 required), answers and sends echoes (a silent switch is dropped after 15 s), reconnects with
 * exponential backoff, and turns OpenFlow errors into exceptions that name the offending flow.
 *
 * <p>Standard messages (HELLO, ECHO, BARRIER, FEATURES, ERROR) go through openflowj; flow_mods, bundles and
 * flow-stats, which carry Open vSwitch extensions openflowj cannot represent, are our own encoding.
 */
public final class OfConnection implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(OfConnection.class);
    private static final OFFactory OF13 = OFFactories.getFactory(OFVersion.OF_13);
    private static final int OFPT_ERROR = 1, OFPT_ECHO_REQUEST = 2, OFPT_ECHO_REPLY = 3, OFPT_EXPERIMENTER = 4,
            OFPT_FEATURES_REPLY = 6, OFPT_MULTIPART_REPLY = 19, OFPT_BARRIER_REPLY = 21, OFPT_SET_ASYNC = 28;
    private static final int ONF_VENDOR = 0x4f4e4600, ONFT_BUNDLE_CONTROL = 2300, ONFT_BUNDLE_ADD = 2301;
    private static final int BUNDLE_OPEN = 0, BUNDLE_COMMIT = 4, BUNDLE_DISCARD = 6;
    private static final long MAX_BACKOFF_MS = 5000;
    private static final int CHUNK_BYTES = 256 * 1024;
    /**
     * Bound on the parts of one multipart reply held until its last part: at most 64 KiB each, so at most 256 MiB
     * (a dump of a million flows is about 3,000 parts).
     */
    static final int MAX_MULTIPART_PARTS = 4096;
    /** Shortest body of each message type we read (header included): a shorter one is malformed. */
    private static final int MIN_ERROR = 12, MIN_FEATURES_REPLY = 32, MIN_MULTIPART_REPLY = 16, MIN_AGGREGATE_REPLY = 40;

    /** Told about (re)connections, on a thread of its own; the callback may send flows and wait. */
    public interface Listener {
        void connected(OfConnection connection, long datapathId);

        default void disconnected(String why) {
        }
    }

    private final OfEndpoint endpoint;
    private final Listener listener;
    private final EventLoopGroup group;
    private final boolean epoll;
    private final AtomicInteger xids = new AtomicInteger(1);
    private final Map<Integer, CompletableFuture<List<ByteBuf>>> replies = new ConcurrentHashMap<>();
    private final Map<Integer, List<ByteBuf>> multipartParts = new ConcurrentHashMap<>();
    /** In-flight batches by their first xid, to attribute an error to the flow that caused it. */
    private final ConcurrentSkipListMap<Integer, Batch> batches = new ConcurrentSkipListMap<>();
    private final AtomicInteger bundleIds = new AtomicInteger(1);
    private final java.util.concurrent.ExecutorService callbacks =
            java.util.concurrent.Executors.newSingleThreadExecutor(new DefaultThreadFactory("openflow-listener", true));
    private volatile Consumer<PacketIn> packetInHandler;
    private final java.util.concurrent.atomic.AtomicLong packetIns = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong malformedPacketIns = new java.util.concurrent.atomic.AtomicLong();
    private volatile Channel channel;
    private volatile boolean ready;
    private volatile boolean closed;
    private volatile String lastError = "not connected yet";
    private volatile long datapathId;
    private volatile long connects;
    private int attempt;

    public OfConnection(OfEndpoint endpoint, Listener listener) {
        this.endpoint = endpoint;
        this.listener = listener;
        this.epoll = Epoll.isAvailable();
        if (endpoint.isUnix() && !epoll) {
            throw new IllegalStateException("UNIX domain sockets need Netty epoll: " + Epoll.unavailabilityCause());
        }
        DefaultThreadFactory tf = new DefaultThreadFactory("openflow", true);
        this.group = epoll ? new EpollEventLoopGroup(1, tf) : new NioEventLoopGroup(1, tf);
    }

    /** Starts connecting in the background; {@link Listener#connected} tells when the switch is there. */
    public OfConnection start() {
        connect();
        return this;
    }

    public boolean isReady() {
        return ready;
    }

    public String lastError() {
        return lastError;
    }

    public OfEndpoint endpoint() {
        return endpoint;
    }

    /**
     * Where packet-ins go. The handler runs on the OpenFlow event loop and must not block: it hands the packet on
     * (the {@code PacketInDispatcher} queues it for its own thread). Without a handler packet-ins are counted and
     * dropped.
     */
    public void onPacketIn(Consumer<PacketIn> handler) {
        this.packetInHandler = handler;
    }

    /** Packet-ins received (decoded), and those that were malformed (dropped, the connection stays up). */
    public long packetIns() {
        return packetIns.get();
    }

    public long malformedPacketIns() {
        return malformedPacketIns.get();
    }

    /** Sends one packet-out; completes when the switch has processed it (fails with its error). */
    public CompletableFuture<Void> packetOut(PacketOut packet) {
        return send(List.of(packet.encode()), false);
    }

    /** How many times a session was established (1 after the first connect). */
    public long connects() {
        return connects;
    }

    private void connect() {
        if (closed) {
            return;
        }
        Bootstrap b = new Bootstrap().group(group).handler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                ch.pipeline().addLast(new OfFrameDecoder(),
                        new IdleStateHandler(15, 5, 0, TimeUnit.SECONDS), new Handler());
            }
        }).option(ChannelOption.CONNECT_TIMEOUT_MILLIS, 3000);
        ChannelFuture f;
        if (endpoint.isUnix()) {
            f = b.channel(EpollDomainSocketChannel.class).connect(new DomainSocketAddress(endpoint.unixSocket().toFile()));
        } else {
            b.channel(epoll ? EpollSocketChannel.class : NioSocketChannel.class).option(ChannelOption.TCP_NODELAY, true);
            f = b.connect(new InetSocketAddress(endpoint.host(), endpoint.port()));
        }
        f.addListener(done -> {
            if (!done.isSuccess()) {
                Throwable c = done.cause();
                lastError = "cannot connect to " + endpoint + ": " + (c.getMessage() != null ? c.getMessage() : c.getClass().getSimpleName());
                scheduleReconnect();
            }
        });
    }

    private void scheduleReconnect() {
        if (closed || group.isShuttingDown()) {
            return;
        }
        long delay = Math.min(MAX_BACKOFF_MS, 100L << Math.min(attempt++, 6));
        group.schedule(this::connect, delay, TimeUnit.MILLISECONDS);
    }

    private int nextXid(int count) {
        return xids.getAndAdd(count) & 0x7fffffff;
    }

    private Channel requireChannel() {
        Channel ch = channel;
        if (!ready || ch == null || !ch.isActive()) {
            throw new OfException("OpenFlow connection to " + endpoint + " is down: " + lastError);
        }
        return ch;
    }

    // ------------------------------------------------------------------ requests

    /** Round trip: all earlier messages are processed when this completes. */
    public CompletableFuture<Void> barrier() {
        Channel ch = requireChannel();
        int xid = nextXid(1);
        CompletableFuture<List<ByteBuf>> f = expect(xid);
        ch.writeAndFlush(toBuf(OF13.buildBarrierRequest().setXid(xid).build()));
        return f.thenApply(parts -> {
            release(parts);
            return null;
        });
    }

    /**
     * Sends flow_mods (encoded messages; their xids are assigned here). {@code atomic}: inside an ONF bundle (ordered,
     * atomic) that is committed only when every message was accepted, else discarded, so a batch is never half
     * applied. Otherwise the messages are followed by a barrier. Fails with the offending flows named.
     */
    public CompletableFuture<Void> send(List<byte[]> messages, boolean atomic) {
        if (messages.isEmpty()) {
            return CompletableFuture.completedFuture(null);
        }
        Channel ch = requireChannel();
        int n = messages.size();
        int base = nextXid(n + 3);
        Batch batch = new Batch(base, n + 3, messages);
        batches.put(base, batch);
        int bundleId = bundleIds.getAndIncrement();
        int openXid = base + n, barrierXid = base + n + 1, endXid = base + n + 2;
        CompletableFuture<Void> result = new CompletableFuture<>();
        result.whenComplete((v, e) -> batches.remove(base));
        CompletableFuture<List<ByteBuf>> barrierReply = expect(barrierXid);
        if (atomic) {
            CompletableFuture<List<ByteBuf>> openReply = expect(openXid);
            openReply.whenComplete((p, e) -> release(p));
            ch.write(bundleControl(openXid, bundleId, BUNDLE_OPEN));
        }
        // Many messages per write: one event-loop task per ~256 KiB instead of one per flow.
        ByteBuf chunk = Unpooled.buffer(CHUNK_BYTES + 512);
        for (int i = 0; i < n; i++) {
            byte[] m = messages.get(i);
            int xid = base + i;
            if (atomic) {
                int len = 24 + m.length;
                chunk.writeByte(4).writeByte(OFPT_EXPERIMENTER).writeShort(len).writeInt(xid).writeInt(ONF_VENDOR)
                        .writeInt(ONFT_BUNDLE_ADD).writeInt(bundleId).writeShort(0).writeShort(3);
            }
            int inner = chunk.writerIndex();
            chunk.writeBytes(m);
            chunk.setInt(inner + 4, xid);
            if (chunk.readableBytes() >= CHUNK_BYTES) {
                ch.write(chunk);
                chunk = Unpooled.buffer(CHUNK_BYTES + 512);
            }
        }
        if (chunk.isReadable()) {
            ch.write(chunk);
        } else {
            chunk.release();
        }
        ch.writeAndFlush(toBuf(OF13.buildBarrierRequest().setXid(barrierXid).build()));
        barrierReply.whenComplete((parts, err) -> {
            release(parts);
            if (err != null) {
                result.completeExceptionally(err);
                return;
            }
            if (!atomic) {
                complete(batch, result);
                return;
            }
            if (!batch.errors.isEmpty()) {
                Channel c = channel;
                if (c != null) {
                    c.writeAndFlush(bundleControl(endXid, bundleId, BUNDLE_DISCARD));
                }
                complete(batch, result);
                return;
            }
            CompletableFuture<List<ByteBuf>> commit = expect(endXid);
            Channel c = channel;
            if (c == null) {
                result.completeExceptionally(new OfException("connection lost before bundle commit"));
                return;
            }
            c.writeAndFlush(bundleControl(endXid, bundleId, BUNDLE_COMMIT));
            commit.whenComplete((p, e2) -> {
                release(p);
                if (e2 != null) {
                    batch.errors.add(e2.getMessage());
                }
                complete(batch, result);
            });
        });
        return result;
    }

    private static void complete(Batch batch, CompletableFuture<Void> result) {
        if (batch.errors.isEmpty()) {
            result.complete(null);
        } else {
            result.completeExceptionally(new OfException(String.join("; ", batch.errors)));
        }
    }

    /** Every flow (table 0xff = all) whose cookie matches, with counters: OFPMP_FLOW, decoded by us. */
    public CompletableFuture<List<FlowStats>> dumpFlows(int table, long cookie, long cookieMask) {
        Channel ch = requireChannel();
        int xid = nextXid(1);
        CompletableFuture<List<ByteBuf>> f = expect(xid);
        ch.writeAndFlush(flowStatsRequest(xid, 1, table, cookie, cookieMask));
        return f.thenApply(parts -> {
            try {
                return decodeFlowStats(parts);
            } finally {
                release(parts);
            }
        });
    }

    /**
     * The flows of a flow-stats reply (its multipart parts, each exactly one message as {@link OfFrameDecoder} cut
     * it). An entry whose length is short, zero (which would never advance) or past its part, or trailing bytes, is an
     * {@link OfException} naming the offset: a malformed reply is an error, not a hang or a wrong dump.
     */
    static List<FlowStats> decodeFlowStats(List<ByteBuf> parts) {
        List<FlowStats> out = new ArrayList<>();
        for (ByteBuf p : parts) {
            int end = p.writerIndex();
            if (end < MIN_MULTIPART_REPLY) {
                throw new OfException("malformed flow-stats reply: a part of " + end + " bytes, less than its "
                        + MIN_MULTIPART_REPLY);
            }
            if (p.getUnsignedShort(8) != 1) {
                throw new OfException("malformed flow-stats reply: multipart type " + p.getUnsignedShort(8)
                        + " (expected 1, OFPMP_FLOW)");
            }
            int at = 16;
            while (at < end) {
                if (end - at < 56) {
                    throw new OfException("malformed flow-stats reply: " + (end - at) + " bytes at offset " + at
                            + ", less than a 56-byte flow-stats entry");
                }
                int len = p.getUnsignedShort(at);
                if (len < 56 || at + len > end) {
                    throw new OfException("malformed flow-stats entry at offset " + at + ": length " + len
                            + " (reply length " + end + ")");
                }
                int tableId = p.getUnsignedByte(at + 2);
                double duration = p.getUnsignedInt(at + 4) + p.getUnsignedInt(at + 8) / 1e9;
                int priority = p.getUnsignedShort(at + 12);
                long ck = p.getLong(at + 24);
                long packets = p.getLong(at + 32);
                long bytes = p.getLong(at + 40);
                FlowMod flow = FlowMod.decodeAt(p, at + 48, at + len, tableId, priority, ck);
                out.add(new FlowStats(flow, packets, bytes, duration));
                at += len;
            }
        }
        return out;
    }

    /** Number of flows whose cookie matches (OFPMP_AGGREGATE): how the agent notices a switch that lost its flows. */
    public CompletableFuture<Long> flowCount(long cookie, long cookieMask) {
        Channel ch = requireChannel();
        int xid = nextXid(1);
        CompletableFuture<List<ByteBuf>> f = expect(xid);
        ch.writeAndFlush(flowStatsRequest(xid, 2, 0xff, cookie, cookieMask));
        return f.thenApply(parts -> {
            try {
                if (parts.isEmpty()) {
                    return 0L;
                }
                ByteBuf p = parts.get(0);
                if (p.readableBytes() < MIN_AGGREGATE_REPLY || p.getUnsignedShort(8) != 2) {
                    throw new OfException("malformed aggregate-stats reply: " + p.readableBytes() + " bytes, multipart"
                            + " type " + p.getUnsignedShort(8) + " (expected " + MIN_AGGREGATE_REPLY + " bytes, type 2)");
                }
                return p.getUnsignedInt(16 + 16);
            } finally {
                release(parts);
            }
        });
    }

    /** The ids of every group on the switch (OFPMP_GROUP_DESC): how a new agent run finds a previous run's groups. */
    public CompletableFuture<List<Integer>> groupIds() {
        Channel ch = requireChannel();
        int xid = nextXid(1);
        CompletableFuture<List<ByteBuf>> f = expect(xid);
        ByteBuf b = Unpooled.buffer(16);
        b.writeByte(4).writeByte(18).writeShort(16).writeInt(xid).writeShort(7).writeShort(0).writeInt(0);
        ch.writeAndFlush(b);
        return f.thenApply(parts -> {
            try {
                List<Integer> ids = new ArrayList<>();
                for (ByteBuf p : parts) {
                    int end = p.getUnsignedShort(2);
                    int at = 16;
                    while (at + 8 <= end) {
                        int len = p.getUnsignedShort(at);
                        if (len < 8 || at + len > end) {
                            throw new OfException("malformed group-desc entry at offset " + at + ": length " + len);
                        }
                        ids.add(p.getInt(at + 4));
                        at += len;
                    }
                }
                return ids;
            } finally {
                release(parts);
            }
        });
    }

    // ------------------------------------------------------------------ encoding helpers

    private static ByteBuf toBuf(OFMessage m) {
        ByteBuf b = Unpooled.buffer();
        m.writeTo(b);
        return b;
    }

    private static ByteBuf bundleControl(int xid, int bundleId, int type) {
        ByteBuf b = Unpooled.buffer(24);
        b.writeByte(4).writeByte(OFPT_EXPERIMENTER).writeShort(24).writeInt(xid).writeInt(ONF_VENDOR)
                .writeInt(ONFT_BUNDLE_CONTROL).writeInt(bundleId).writeShort(type).writeShort(3);
        return b;
    }

    /**
     * OFPT_SET_ASYNC: packet-ins for table misses, CONTROLLER actions and invalid TTLs when master or equal; no
     * port-status or flow-removed messages (the agent reads ports from OVSDB).
     */
    private static ByteBuf setAsync(int xid) {
        ByteBuf b = Unpooled.buffer(32);
        b.writeByte(4).writeByte(OFPT_SET_ASYNC).writeShort(32).writeInt(xid);
        b.writeInt(0x7).writeInt(0).writeInt(0).writeInt(0).writeInt(0).writeInt(0);
        return b;
    }

    private static ByteBuf flowStatsRequest(int xid, int mpType, int table, long cookie, long cookieMask) {
        ByteBuf b = Unpooled.buffer(56);
        b.writeByte(4).writeByte(18).writeShort(56).writeInt(xid).writeShort(mpType).writeShort(0).writeInt(0);
        b.writeByte(table).writeZero(3).writeInt(0xffffffff).writeInt(0xffffffff).writeInt(0)
                .writeLong(cookie).writeLong(cookieMask);
        b.writeShort(1).writeShort(4).writeInt(0);
        return b;
    }

    private CompletableFuture<List<ByteBuf>> expect(int xid) {
        CompletableFuture<List<ByteBuf>> f = new CompletableFuture<>();
        replies.put(xid, f);
        f.orTimeout(120, TimeUnit.SECONDS).whenComplete((v, e) -> replies.remove(xid));
        return f;
    }

    private static void release(List<ByteBuf> parts) {
        if (parts != null) {
            parts.forEach(ByteBuf::release);
        }
    }

    private String describe(int xid) {
        Map.Entry<Integer, Batch> e = batches.floorEntry(xid);
        if (e == null || xid >= e.getKey() + e.getValue().count) {
            return null;
        }
        Batch b = e.getValue();
        int i = xid - b.base;
        if (i < b.messages.size()) {
            byte[] m = b.messages.get(i);
            try {
                return m[1] == FlowMod.OFPT_FLOW_MOD ? "flow " + EncodedFlow.of(m).describe()
                        : m[1] == GroupMod.OFPT_GROUP_MOD ? "group " + GroupMod.decode(m)
                        : m[1] == MeterMod.OFPT_METER_MOD ? "meter " + MeterMod.decode(m)
                        : m[1] == PacketOut.OFPT_PACKET_OUT ? "packet-out" : "flow message type " + m[1];
            } catch (RuntimeException ex) {
                return "message " + i;
            }
        }
        return "bundle control";
    }

    private void failAll(String why) {
        for (Integer xid : List.copyOf(replies.keySet())) {
            CompletableFuture<List<ByteBuf>> f = replies.remove(xid);
            if (f != null) {
                f.completeExceptionally(new OfException("OpenFlow connection lost: " + why));
            }
        }
        multipartParts.values().forEach(OfConnection::release);
        multipartParts.clear();
    }

    @Override
    public void close() {
        closed = true;
        ready = false;
        Channel ch = channel;
        if (ch != null) {
            ch.close().awaitUninterruptibly(2, TimeUnit.SECONDS);
        }
        failAll("closed");
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(3, TimeUnit.SECONDS);
        callbacks.shutdownNow();
    }

    private record Batch(int base, int count, List<byte[]> messages, List<String> errors) {
        Batch(int base, int count, List<byte[]> messages) {
            this(base, count, messages, java.util.Collections.synchronizedList(new ArrayList<>()));
        }
    }

    // ------------------------------------------------------------------ inbound

    private final class Handler extends SimpleChannelInboundHandler<ByteBuf> {

        private boolean helloSeen;
        private int featuresXid;
        /** Set when this side drops the connection for a reason already in lastError (kept over "closed"). */
        private boolean droppedWithReason;

        private void drop(ChannelHandlerContext ctx, String why) {
            lastError = why;
            droppedWithReason = true;
            ctx.close();
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            channel = ctx.channel();
            OFHello hello = OF13.buildHello().setXid(nextXid(1))
                    .setElements(List.of(OF13.buildHelloElemVersionbitmap()
                            .setBitmaps(List.of(U32.of(1 << OFVersion.OF_13.getWireVersion()))).build()))
                    .build();
            ctx.writeAndFlush(toBuf(hello));
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            boolean wasReady = ready;
            ready = false;
            channel = null;
            if (!closed && !droppedWithReason) {
                lastError = "connection to " + endpoint + " closed";
            }
            failAll(lastError);
            if (wasReady && !closed) {
                LOG.warnf("OpenFlow connection to %s lost; reconnecting", endpoint);
                callbacks.execute(() -> listener.disconnected(lastError));
            }
            scheduleReconnect();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof IdleStateEvent e) {
                if (e.state() == IdleState.READER_IDLE) {
                    drop(ctx, "no message from the switch for 15 s (echo unanswered)");
                } else if (e.state() == IdleState.WRITER_IDLE && helloSeen) {
                    ctx.writeAndFlush(toBuf(OF13.buildEchoRequest().setXid(nextXid(1)).setData(new byte[0]).build()));
                }
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // a malformed message (OfException from the framing or the checks below) arrives wrapped by Netty
            Throwable c = cause instanceof DecoderException && cause.getCause() != null ? cause.getCause() : cause;
            if (c instanceof OfException) {
                LOG.warnf("OpenFlow connection to %s: %s; reconnecting", endpoint, c.getMessage());
            }
            drop(ctx, "OpenFlow connection error: " + (c.getMessage() != null ? c.getMessage() : c.toString()));
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
            // OfFrameDecoder hands on exactly one message of at least 8 bytes; the bodies are checked per type
            int version = msg.getUnsignedByte(0);
            int type = msg.getUnsignedByte(1);
            int xid = msg.getInt(4);
            if (!helloSeen) {
                if (type != 0) {
                    drop(ctx, "switch did not start with HELLO (type " + type + ")");
                    return;
                }
                if (!supports13(msg, version)) {
                    drop(ctx, "switch does not speak OpenFlow 1.3 (offered version " + version + ")");
                    return;
                }
                helloSeen = true;
                featuresXid = nextXid(1);
                ctx.writeAndFlush(toBuf(OF13.buildFeaturesRequest().setXid(featuresXid).build()));
                return;
            }
            requireLength(msg, type, switch (type) {
                case OFPT_ERROR -> MIN_ERROR;
                case OFPT_FEATURES_REPLY -> MIN_FEATURES_REPLY;
                case OFPT_MULTIPART_REPLY -> MIN_MULTIPART_REPLY;
                default -> OfFrameDecoder.HEADER_BYTES;
            });
            switch (type) {
                case OFPT_ECHO_REQUEST -> {
                    ByteBuf reply = msg.copy();
                    reply.setByte(0, 4);
                    reply.setByte(1, OFPT_ECHO_REPLY);
                    ctx.writeAndFlush(reply);
                }
                case OFPT_FEATURES_REPLY -> {
                    if (xid == featuresXid) {
                        // a connection to the bridge's .mgmt socket is a service connection, which Open vSwitch
                        // sends no packet-ins by default: ask for those of CONTROLLER actions (and table misses)
                        ctx.writeAndFlush(setAsync(nextXid(1)));
                        datapathId = msg.getLong(8);
                        attempt = 0;
                        ready = true;
                        connects++;
                        lastError = "";
                        long dpid = datapathId;
                        callbacks.execute(() -> listener.connected(OfConnection.this, dpid));
                    }
                }
                case OFPT_ERROR -> onError(xid, msg);
                case OFPT_BARRIER_REPLY -> completeReply(xid, List.of());
                case OFPT_EXPERIMENTER -> {
                    if (msg.readableBytes() >= 24 && msg.getInt(8) == ONF_VENDOR && msg.getInt(12) == ONFT_BUNDLE_CONTROL) {
                        completeReply(xid, List.of());
                    }
                }
                case OFPT_MULTIPART_REPLY -> onMultipartPart(xid, msg);
                case PacketIn.OFPT_PACKET_IN -> onPacketIn(msg);
                default -> {
                    // port status, flow removed, ...: not used
                }
            }
        }

        /** A malformed packet-in is counted and dropped: one bad packet must not cost the connection. */
        private void onPacketIn(ByteBuf msg) {
            PacketIn p;
            try {
                p = PacketIn.decode(msg);
            } catch (OfException e) {
                malformedPacketIns.incrementAndGet();
                LOG.debugf("dropped a packet-in: %s", e.getMessage());
                return;
            }
            packetIns.incrementAndGet();
            Consumer<PacketIn> h = packetInHandler;
            if (h != null) {
                h.accept(p);
            }
        }

        private static void requireLength(ByteBuf msg, int type, int min) {
            if (msg.readableBytes() < min) {
                throw new OfException("malformed OpenFlow message: type " + type + " of " + msg.readableBytes()
                        + " bytes, less than its " + min);
            }
        }

        /**
         * Collects the parts of a reply somebody waits for (parts for an unknown xid are dropped, not kept), up to a
         * bound: a switch that sends parts without end fails the request instead of filling the heap.
         */
        private void onMultipartPart(int xid, ByteBuf msg) {
            boolean more = (msg.getUnsignedShort(10) & 1) != 0;
            if (!replies.containsKey(xid)) {
                release(multipartParts.remove(xid));
                return;
            }
            List<ByteBuf> parts = multipartParts.computeIfAbsent(xid, k -> new ArrayList<>());
            parts.add(msg.retainedDuplicate());
            if (parts.size() > MAX_MULTIPART_PARTS) {
                release(multipartParts.remove(xid));
                CompletableFuture<List<ByteBuf>> f = replies.remove(xid);
                if (f != null) {
                    f.completeExceptionally(new OfException("multipart reply " + xid + " has more than "
                            + MAX_MULTIPART_PARTS + " parts; refused"));
                }
                return;
            }
            if (!more) {
                completeReply(xid, multipartParts.remove(xid));
            }
        }

        private void completeReply(int xid, List<ByteBuf> parts) {
            CompletableFuture<List<ByteBuf>> f = replies.remove(xid);
            if (f == null) {
                release(parts);
                return;
            }
            f.complete(parts);
        }

        private void onError(int xid, ByteBuf msg) {
            String text;
            try {
                OFMessage m = OFFactories.getGenericReader().readFrom(msg.duplicate());
                text = m instanceof OFErrorMsg e ? e.getErrType() + describeCode(e) : m.toString();
            } catch (Exception e) {
                text = "type " + msg.getUnsignedShort(8) + " code " + msg.getUnsignedShort(10);
            }
            String what = describe(xid);
            String full = "OpenFlow error " + text + (what == null ? "" : " for " + what);
            Map.Entry<Integer, Batch> e = batches.floorEntry(xid);
            if (e != null && xid < e.getKey() + e.getValue().count) {
                e.getValue().errors.add(full);
            }
            CompletableFuture<List<ByteBuf>> f = replies.remove(xid);
            if (f != null) {
                f.completeExceptionally(new OfException(full));
            } else if (what == null) {
                LOG.warn(full);
            }
        }
    }

    private static String describeCode(OFErrorMsg e) {
        try {
            Object code = e.getClass().getMethod("getCode").invoke(e);
            return "/" + code;
        } catch (ReflectiveOperationException ex) {
            return "";
        }
    }

    /** HELLO version bitmap (OpenFlow 1.3.1+) or, without one, the header version. */
    private static boolean supports13(ByteBuf hello, int version) {
        int len = hello.readableBytes();
        int at = 8;
        while (at + 4 <= len) {
            int type = hello.getUnsignedShort(at);
            int elen = hello.getUnsignedShort(at + 2);
            if (elen < 4 || elen > len - at) {
                throw new OfException("malformed HELLO: element type " + type + " at offset " + at + " has length "
                        + elen + " (" + (len - at) + " bytes left)");
            }
            if (type == 1 && elen >= 8) {
                return (hello.getInt(at + 4) & (1 << 4)) != 0;
            }
            at += (elen + 7) / 8 * 8;
        }
        return version >= 4;
    }

    public long datapathId() {
        return datapathId;
    }

    /** For tests: run something on the listener thread after pending callbacks. */
    void onListenerThread(Consumer<OfConnection> r) {
        callbacks.execute(() -> r.accept(this));
    }
}
