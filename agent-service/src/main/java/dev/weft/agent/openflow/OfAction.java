package dev.weft.agent.openflow;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;

import java.util.ArrayList;
import java.util.List;
import java.util.StringJoiner;

/**
 * OpenFlow 1.3 actions plus the Open vSwitch (Nicira, vendor 0x00002320) extensions the pipeline needs, encoded as
 * {@code ovs-ofctl} encodes them (checked byte-for-byte in tests). {@code toString()} is ovs-ofctl syntax.
 */
public sealed interface OfAction {

    int NX_VENDOR = 0x00002320;
    int OFPP_IN_PORT = 0xfffffff8;
    int OFPP_NORMAL = 0xfffffffa;
    /** Submit the packet to the first table (a packet-out's action: the packet traverses the pipeline). */
    int OFPP_TABLE = 0xfffffff9;
    int OFPP_CONTROLLER = 0xfffffffd;
    /** The largest max_len: the whole packet goes to the controller (no buffering). */
    int NO_BUFFER_MAX_LEN = 0xffff;

    void encode(ByteBuf out);

    // ---- standard actions ----

    record Output(int port) implements OfAction {
        public void encode(ByteBuf out) {
            out.writeShort(0).writeShort(16).writeInt(port).writeShort(0).writeZero(6);
        }

        public String toString() {
            return port == OFPP_NORMAL ? "NORMAL" : port == OFPP_IN_PORT ? "IN_PORT" : port == OFPP_TABLE ? "TABLE"
                    : "output:" + Integer.toUnsignedString(port);
        }
    }

    /**
     * {@code CONTROLLER:max_len}: a packet-in of the packet's first {@code maxLen} bytes (OFPAT_OUTPUT to
     * OFPP_CONTROLLER, reason OFPR_ACTION); the packet-in carries the flow's cookie and table, which is how the agent
     * routes it ({@code PacketInDispatcher}).
     */
    record Controller(int maxLen) implements OfAction {
        public Controller {
            if (maxLen < 0 || maxLen > 0xffff) {
                throw new IllegalArgumentException("controller max_len " + maxLen + " out of 0..65535");
            }
        }

        public void encode(ByteBuf out) {
            out.writeShort(0).writeShort(16).writeInt(OFPP_CONTROLLER).writeShort(maxLen).writeZero(6);
        }

        public String toString() {
            return "CONTROLLER:" + maxLen;
        }
    }

    /**
     * {@code meter:N}: the packets of the flow pass meter N first (its band drops those above the rate). In OpenFlow 1.3
     * this is an instruction (OFPIT_METER), not an action: it may only be the first of a flow's actions, and
     * {@link FlowMod} writes it as the instruction before apply-actions, as ovs-ofctl does.
     */
    record Meter(int meterId) implements OfAction {
        public Meter {
            if (Integer.toUnsignedLong(meterId) < 1 || Integer.toUnsignedLong(meterId) > MeterMod.MAX_METER_ID) {
                throw new IllegalArgumentException("meter id " + Integer.toUnsignedString(meterId) + " out of 1.."
                        + MeterMod.MAX_METER_ID);
            }
        }

        public void encode(ByteBuf out) {
            out.writeShort(6).writeShort(8).writeInt(meterId);
        }

        public String toString() {
            return "meter:" + Integer.toUnsignedString(meterId);
        }
    }

    record DecTtl() implements OfAction {
        public void encode(ByteBuf out) {
            out.writeShort(24).writeShort(8).writeZero(4);
        }

        public String toString() {
            return "dec_ttl";
        }
    }

    /** OFPAT_SET_FIELD with an OXM or NXM field, e.g. eth_src, eth_dst, tun_dst. */
    record SetField(OfField field, long value) implements OfAction {
        public void encode(ByteBuf out) {
            int len = 4 + 4 + field.length();
            int padded = (len + 7) / 8 * 8;
            out.writeShort(25).writeShort(padded).writeInt(field.header);
            Match.writeN(out, value, field.length());
            out.writeZero(padded - len);
        }

        public String toString() {
            String name = switch (field) {
                case ETH_SRC -> "eth_src";
                case ETH_DST -> "eth_dst";
                default -> field.ofctlName;
            };
            return "set_field:" + Match.format(MatchEntry.exact(field, value)) + "->" + name;
        }
    }

    /** OFPAT_GROUP: {@code group:N}, the packet goes through the group's buckets (a select group picks one). */
    record Group(int groupId) implements OfAction {
        public void encode(ByteBuf out) {
            out.writeShort(22).writeShort(8).writeInt(groupId);
        }

        public String toString() {
            return "group:" + Integer.toUnsignedString(groupId);
        }
    }

    // ---- Nicira extensions ----

    private static void nxHeader(ByteBuf out, int len, int subtype) {
        out.writeShort(0xffff).writeShort(len).writeInt(NX_VENDOR).writeShort(subtype);
    }

    /** NXAST_RESUBMIT_TABLE: {@code resubmit(,table)}. */
    record Resubmit(int table) implements OfAction {
        public void encode(ByteBuf out) {
            nxHeader(out, 16, 14);
            out.writeShort(OFPP_IN_PORT & 0xffff).writeByte(table).writeZero(3);
        }

        public String toString() {
            return "resubmit(," + table + ")";
        }
    }

    /** NXAST_CONJUNCTION: {@code conjunction(id,clause/nClauses)}, clause 1-based as ovs-ofctl writes it. */
    record Conjunction(long id, int clause, int nClauses) implements OfAction {
        public Conjunction {
            if (nClauses < 2 || nClauses > 64 || clause < 1 || clause > nClauses) {
                throw new IllegalArgumentException("bad conjunction clause " + clause + "/" + nClauses);
            }
        }

        public void encode(ByteBuf out) {
            nxHeader(out, 16, 34);
            out.writeByte(clause - 1).writeByte(nClauses).writeInt((int) id);
        }

        public String toString() {
            return "conjunction(" + id + "," + clause + "/" + nClauses + ")";
        }
    }

    /** NXAST_NAT without ranges: reverse NAT of an existing connection, the form ct(nat) uses. */
    record Nat() implements OfAction {
        public void encode(ByteBuf out) {
            nxHeader(out, 16, 36);
            out.writeZero(2).writeShort(0).writeShort(0);
        }

        public String toString() {
            return "nat";
        }
    }

    /**
     * NXAST_NAT with an address and a port: {@code nat(dst=10.10.1.6:80)} (a Service's DNAT to its endpoint) or
     * {@code nat(src=...)}; port 0 leaves the port as it is. The range is one address (and one port): the form
     * ovs-ofctl writes for {@code nat(dst=IP:PORT)}.
     */
    record NatTo(boolean source, long ipv4, int port) implements OfAction {
        private static final int F_SRC = 1, F_DST = 2, RANGE_IPV4_MIN = 1, RANGE_PROTO_MIN = 1 << 4;

        public NatTo {
            if (ipv4 < 0 || ipv4 > 0xffffffffL || port < 0 || port > 0xffff) {
                throw new IllegalArgumentException("bad NAT target " + ipv4 + ":" + port);
            }
        }

        public void encode(ByteBuf out) {
            int params = 4 + (port > 0 ? 2 : 0);
            int len = (16 + params + 7) / 8 * 8;
            nxHeader(out, len, 36);
            out.writeZero(2).writeShort(source ? F_SRC : F_DST).writeShort(RANGE_IPV4_MIN | (port > 0 ? RANGE_PROTO_MIN : 0));
            out.writeInt((int) ipv4);
            if (port > 0) {
                out.writeShort(port);
            }
            out.writeZero(len - 16 - params);
        }

        public String toString() {
            return "nat(" + (source ? "src=" : "dst=") + Match.ipv4(ipv4) + (port > 0 ? ":" + port : "") + ")";
        }
    }

    /** NXAST_CT: {@code ct(commit,table=N,zone=Z,nat)}; table -1 means no recirculation. */
    record Ct(boolean commit, int zone, int table, List<OfAction> nested) implements OfAction {
        public Ct {
            nested = List.copyOf(nested);
        }

        public void encode(ByteBuf out) {
            int start = out.writerIndex();
            nxHeader(out, 0, 35);
            out.writeShort(commit ? 1 : 0).writeInt(0).writeShort(zone).writeByte(table < 0 ? 0xff : table)
                    .writeZero(3).writeShort(0);
            for (OfAction a : nested) {
                a.encode(out);
            }
            out.setShort(start + 2, out.writerIndex() - start);
        }

        public String toString() {
            StringJoiner j = new StringJoiner(",", "ct(", ")");
            if (commit) {
                j.add("commit");
            }
            if (table >= 0) {
                j.add("table=" + table);
            }
            j.add("zone=" + zone);
            List<String> exec = new ArrayList<>();
            for (OfAction a : nested) {
                if (a instanceof Nat || a instanceof NatTo) {
                    j.add(a.toString());
                } else {
                    exec.add(a.toString());
                }
            }
            if (!exec.isEmpty()) {
                j.add("exec(" + String.join(",", exec) + ")");
            }
            return j.toString();
        }
    }

    /** NXAST_REG_LOAD: {@code load:value->NXM_NX_REGn[ofs..ofs+nbits-1]}. */
    record RegLoad(OfField dst, int ofs, int nBits, long value) implements OfAction {
        /** {@code load:value->NXM_NX_REGn[field's bits]}. */
        public static RegLoad of(RegField field, long value) {
            return new RegLoad(field.register(), field.start(), field.nBits(), field.checked(value));
        }

        public static RegLoad of(RegMark mark) {
            return of(mark.field(), mark.value());
        }

        public void encode(ByteBuf out) {
            nxHeader(out, 24, 7);
            out.writeShort((ofs << 6) | (nBits - 1)).writeInt(nxmHeader(dst)).writeLong(value);
        }

        public String toString() {
            return "load:0x" + Long.toHexString(value) + "->" + nxmName(dst) + range(dst, ofs, nBits);
        }
    }

    /** NXAST_REG_MOVE: {@code move:src[]->dst[]}. */
    record RegMove(OfField src, int srcOfs, OfField dst, int dstOfs, int nBits) implements OfAction {
        public void encode(ByteBuf out) {
            nxHeader(out, 24, 6);
            out.writeShort(nBits).writeShort(srcOfs).writeShort(dstOfs).writeInt(nxmHeader(src)).writeInt(nxmHeader(dst));
        }

        public String toString() {
            return "move:" + nxmName(src) + range(src, srcOfs, nBits) + "->" + nxmName(dst) + range(dst, dstOfs, nBits);
        }
    }

    /** NXAST_OUTPUT_REG: {@code output:NXM_NX_REGn[]}. */
    record OutputReg(OfField src, int ofs, int nBits) implements OfAction {
        /** Output to the port number the field holds. */
        public static OutputReg of(RegField field) {
            return new OutputReg(field.register(), field.start(), field.nBits());
        }

        public void encode(ByteBuf out) {
            nxHeader(out, 24, 15);
            out.writeShort((ofs << 6) | (nBits - 1)).writeInt(nxmHeader(src)).writeShort(0xffff).writeZero(6);
        }

        public String toString() {
            return "output:" + nxmName(src) + range(src, ofs, nBits);
        }
    }

    /**
     * NXAST_LEARN: adds (or refreshes) a flow in {@code table} built from the packet being processed: each spec either
     * matches a field of the packet the new flow will see (the value taken from this packet's field, or an immediate
     * value) or loads a register when the new flow is hit. A learned flow can only match and load (no resubmit): the
     * flow that looks it up continues the pipeline. A learn whose match equals an existing flow's refreshes it (its
     * hard timeout counts again from now). No flags (send_flow_rem, delete_learned): the agent deletes learned flows by
     * their cookie itself.
     *
     * @param idleTimeout 0: none
     * @param hardTimeout 0: none
     */
    record Learn(int table, int priority, int idleTimeout, int hardTimeout, long cookie, List<LearnSpec> specs)
            implements OfAction {
        private static final int SUBTYPE = 16;
        private static final int DEFAULT_PRIORITY = 0x8000;

        public Learn {
            specs = List.copyOf(specs);
            if (table < 0 || table > 254) {
                throw new IllegalArgumentException("learn: bad table " + table);
            }
            if (priority < 0 || priority > 0xffff || idleTimeout < 0 || idleTimeout > 0xffff || hardTimeout < 0
                    || hardTimeout > 0xffff) {
                throw new IllegalArgumentException("learn: priority and timeouts must be in 0..65535");
            }
            if (specs.isEmpty()) {
                throw new IllegalArgumentException("learn: no spec");
            }
        }

        public void encode(ByteBuf out) {
            int start = out.writerIndex();
            nxHeader(out, 0, SUBTYPE);
            out.writeShort(idleTimeout).writeShort(hardTimeout).writeShort(priority).writeLong(cookie)
                    .writeShort(0).writeByte(table).writeByte(0).writeShort(0).writeShort(0);
            for (LearnSpec s : specs) {
                s.encode(out);
            }
            int len = out.writerIndex() - start;
            int padded = (len + 7) / 8 * 8;
            out.writeZero(padded - len);
            out.setShort(start + 2, padded);
        }

        public String toString() {
            StringJoiner j = new StringJoiner(",", "learn(", ")");
            j.add("table=" + table);
            if (idleTimeout != 0) {
                j.add("idle_timeout=" + idleTimeout);
            }
            if (hardTimeout != 0) {
                j.add("hard_timeout=" + hardTimeout);
            }
            if (priority != DEFAULT_PRIORITY) {
                j.add("priority=" + priority);
            }
            if (cookie != 0) {
                j.add("cookie=0x" + Long.toHexString(cookie));
            }
            specs.forEach(s -> j.add(s.toString()));
            return j.toString();
        }

        /** The learn of a flow_mod's action bytes, or null when it has flags or specs we do not write. */
        static Learn decode(ByteBuf in, int start, int len) {
            int p = start + 10;
            int flags = in.getUnsignedShort(p + 14);
            if (flags != 0 || in.getUnsignedShort(p + 18) != 0 || in.getUnsignedShort(p + 20) != 0) {
                return null;
            }
            List<LearnSpec> specs = new ArrayList<>();
            int at = start + 32;
            int end = start + len;
            while (at + 2 <= end) {
                int header = in.getUnsignedShort(at);
                if (header == 0) {
                    break;
                }
                LearnSpec s = LearnSpec.decode(in, at, end);
                if (s == null) {
                    return null;
                }
                specs.add(s);
                at += 2 + s.bodyLength();
            }
            return new Learn(in.getUnsignedByte(p + 16), in.getUnsignedShort(p + 4), in.getUnsignedShort(p),
                    in.getUnsignedShort(p + 2), in.getLong(p + 6), specs);
        }
    }

    /** One {@code flow_mod_spec} of a {@link Learn}: {@code [src type:1 at bit 13][dst type:2 at bit 11][n_bits:10]}. */
    sealed interface LearnSpec {
        int SRC_IMMEDIATE = 1 << 13, DST_LOAD = 1 << 11, N_BITS_MASK = 0x3ff;

        void encode(ByteBuf out);

        /** Bytes after the 2-byte header. */
        int bodyLength();

        /** {@code NXM_OF_IP_SRC[]}: the learned flow matches the field's value in this packet. */
        record MatchField(OfField field) implements LearnSpec {
            public void encode(ByteBuf out) {
                out.writeShort(field.length() * 8);
                out.writeInt(nxmHeader(field)).writeShort(0).writeInt(nxmHeader(field)).writeShort(0);
            }

            public int bodyLength() {
                return 12;
            }

            public String toString() {
                return nxmName(field) + "[]";
            }
        }

        /** {@code nw_dst=10.96.0.10}: the learned flow matches this value. */
        record MatchValue(OfField field, long value) implements LearnSpec {
            public void encode(ByteBuf out) {
                int nBits = field.length() * 8;
                out.writeShort(SRC_IMMEDIATE | nBits);
                Match.writeN(out, value, immediateBytes(nBits));
                out.writeInt(nxmHeader(field)).writeShort(0);
            }

            public int bodyLength() {
                return immediateBytes(field.length() * 8) + 6;
            }

            public String toString() {
                return switch (field) {
                    case ETH_TYPE -> "eth_type=0x" + Long.toHexString(value);
                    case IP_PROTO -> "nw_proto=" + value;
                    case IPV4_SRC -> "ip_src=" + Match.ipv4(value);
                    case IPV4_DST -> "ip_dst=" + Match.ipv4(value);
                    case TCP_DST -> "tcp_dst=" + value;
                    case UDP_DST -> "udp_dst=" + value;
                    case SCTP_DST -> "sctp_dst=" + value;
                    default -> field.ofctlName + "=0x" + Long.toHexString(value);
                };
            }
        }

        /** {@code load:NXM_NX_REG3[]->NXM_NX_REG3[]}: the learned flow loads the value the field has now. */
        record LoadField(OfField src, int srcOfs, OfField dst, int dstOfs, int nBits) implements LearnSpec {
            public static LoadField of(RegField field) {
                return new LoadField(field.register(), field.start(), field.register(), field.start(), field.nBits());
            }

            public void encode(ByteBuf out) {
                out.writeShort(DST_LOAD | nBits);
                out.writeInt(nxmHeader(src)).writeShort(srcOfs).writeInt(nxmHeader(dst)).writeShort(dstOfs);
            }

            public int bodyLength() {
                return 12;
            }

            public String toString() {
                return "load:" + nxmName(src) + range(src, srcOfs, nBits) + "->" + nxmName(dst) + range(dst, dstOfs, nBits);
            }
        }

        /** {@code load:0x2->NXM_NX_REG0[6..7]}: the learned flow loads this value. */
        record LoadValue(long value, OfField dst, int ofs, int nBits) implements LearnSpec {
            public static LoadValue of(RegMark mark) {
                RegField f = mark.field();
                return new LoadValue(mark.value(), f.register(), f.start(), f.nBits());
            }

            public void encode(ByteBuf out) {
                out.writeShort(SRC_IMMEDIATE | DST_LOAD | nBits);
                Match.writeN(out, value, immediateBytes(nBits));
                out.writeInt(nxmHeader(dst)).writeShort(ofs);
            }

            public int bodyLength() {
                return immediateBytes(nBits) + 6;
            }

            public String toString() {
                return "load:0x" + Long.toHexString(value) + "->" + nxmName(dst) + range(dst, ofs, nBits);
            }
        }

        /** An immediate is n_bits rounded up to 16-bit units (ovs's {@code 2 * DIV_ROUND_UP(n_bits, 16)}). */
        private static int immediateBytes(int nBits) {
            return (nBits + 15) / 16 * 2;
        }

        /** The spec at {@code at}, or null when it is a kind we do not write (output, field-to-other-field match). */
        static LearnSpec decode(ByteBuf in, int at, int end) {
            int header = in.getUnsignedShort(at);
            int nBits = header & N_BITS_MASK;
            boolean immediate = (header & SRC_IMMEDIATE) != 0;
            int dstType = (header >> 11) & 3;
            if ((header & 0xc000) != 0 || dstType > 1) {
                return null;
            }
            int p = at + 2;
            long value = 0;
            OfField src = null;
            int srcOfs = 0;
            if (immediate) {
                int n = immediateBytes(nBits);
                value = readAt(in, p, n);
                p += n;
            } else {
                src = byNxmHeader(in.getInt(p));
                srcOfs = in.getUnsignedShort(p + 4);
                p += 6;
            }
            if (p + 6 > end) {
                throw new IllegalArgumentException("learn spec past the action's end");
            }
            OfField dst = byNxmHeader(in.getInt(p));
            int dstOfs = in.getUnsignedShort(p + 4);
            if (dst == null || (!immediate && src == null)) {
                return null;
            }
            if (dstType == 0) {
                if (dstOfs != 0 || nBits != dst.length() * 8) {
                    return null;
                }
                if (immediate) {
                    return new MatchValue(dst, value);
                }
                return src == dst && srcOfs == 0 ? new MatchField(dst) : null;
            }
            return immediate ? new LoadValue(value, dst, dstOfs, nBits) : new LoadField(src, srcOfs, dst, dstOfs, nBits);
        }
    }

    /** An action we do not decode (from flows someone else installed), shown as hex. */
    record Opaque(byte[] raw) implements OfAction {
        public void encode(ByteBuf out) {
            out.writeBytes(raw);
        }

        public String toString() {
            return "unknown(" + ByteBufUtil.hexDump(raw) + ")";
        }
    }

    static String nxmName(OfField f) {
        return switch (f) {
            case ETH_SRC -> "NXM_OF_ETH_SRC";
            case ETH_DST -> "NXM_OF_ETH_DST";
            case IPV4_SRC -> "NXM_OF_IP_SRC";
            case IPV4_DST -> "NXM_OF_IP_DST";
            case ETH_TYPE -> "NXM_OF_ETH_TYPE";
            case IP_PROTO -> "NXM_OF_IP_PROTO";
            case TCP_DST -> "NXM_OF_TCP_DST";
            case UDP_DST -> "NXM_OF_UDP_DST";
            case ARP_OP -> "NXM_OF_ARP_OP";
            case ARP_SPA -> "NXM_OF_ARP_SPA";
            case ARP_TPA -> "NXM_OF_ARP_TPA";
            case ARP_SHA -> "NXM_NX_ARP_SHA";
            case ARP_THA -> "NXM_NX_ARP_THA";
            case IN_PORT -> "OXM_OF_IN_PORT";
            case TUN_IPV4_DST -> "NXM_NX_TUN_IPV4_DST";
            default -> f.name().startsWith("REG") ? "NXM_NX_" + f.name() : f.name();
        };
    }

    private static String range(OfField f, int ofs, int nBits) {
        if (ofs == 0 && nBits == f.length() * 8) {
            return "[]";
        }
        return nBits == 1 ? "[" + ofs + "]" : "[" + ofs + ".." + (ofs + nBits - 1) + "]";
    }

    /** OVS's NXM headers of the fields we move (move/load use NXM_OF names for the OpenFlow 1.0 fields). */
    static int nxmHeader(OfField f) {
        return switch (f) {
            case ETH_DST -> 0x00000206;
            case ETH_SRC -> 0x00000406;
            case IPV4_SRC -> 0x00000e04;
            case IPV4_DST -> 0x00001004;
            case ETH_TYPE -> 0x00000602;
            case IP_PROTO -> 0x00000c01;
            case TCP_DST -> 0x00001402;
            case UDP_DST -> 0x00001802;
            case ARP_OP -> 0x00001e02;
            case ARP_SPA -> 0x00002004;
            case ARP_TPA -> 0x00002204;
            case ARP_SHA -> 0x00012206;
            case ARP_THA -> 0x00012406;
            default -> f.header;
        };
    }

    /** Reads actions up to {@code end}. */
    static List<OfAction> decodeList(ByteBuf in, int end) {
        List<OfAction> actions = new ArrayList<>();
        while (in.readerIndex() < end) {
            actions.add(decode(in));
        }
        return actions;
    }

    static OfAction decode(ByteBuf in) {
        int start = in.readerIndex();
        int type = in.getUnsignedShort(start);
        int len = in.getUnsignedShort(start + 2);
        if (len < 8) {
            throw new IllegalArgumentException("action length " + len);
        }
        try {
            switch (type) {
                case 0 -> {
                    int port = in.getInt(start + 4);
                    return port == OFPP_CONTROLLER ? new Controller(in.getUnsignedShort(start + 8)) : new Output(port);
                }
                case 24 -> {
                    return new DecTtl();
                }
                case 22 -> {
                    return new Group(in.getInt(start + 4));
                }
                case 25 -> {
                    int header = in.getInt(start + 4);
                    OfField f = OfField.byWireHeader(header);
                    if (f != null) {
                        return new SetField(f, readAt(in, start + 8, f.length()));
                    }
                }
                case 0xffff -> {
                    if (in.getInt(start + 4) == NX_VENDOR) {
                        OfAction a = decodeNx(in, start, len, in.getUnsignedShort(start + 8));
                        if (a != null) {
                            return a;
                        }
                    }
                }
                default -> {
                }
            }
            byte[] raw = new byte[len];
            in.getBytes(start, raw);
            return new Opaque(raw);
        } finally {
            in.readerIndex(start + len);
        }
    }

    private static OfAction decodeNx(ByteBuf in, int start, int len, int subtype) {
        int p = start + 10;
        return switch (subtype) {
            case 14 -> new Resubmit(in.getUnsignedByte(p + 2));
            case 34 -> new Conjunction(in.getUnsignedInt(p + 2), in.getUnsignedByte(p) + 1, in.getUnsignedByte(p + 1));
            case 36 -> decodeNat(in, p);
            case 35 -> {
                int flags = in.getUnsignedShort(p);
                int zone = in.getUnsignedShort(p + 6);
                int table = in.getUnsignedByte(p + 8);
                int save = in.readerIndex();
                in.readerIndex(start + 24);
                List<OfAction> nested = decodeList(in, start + len);
                in.readerIndex(save);
                yield new Ct((flags & 1) != 0, zone, table == 0xff ? -1 : table, nested);
            }
            case 7 -> {
                int ofsNbits = in.getUnsignedShort(p);
                OfField f = byNxmHeader(in.getInt(p + 2));
                yield f == null ? null : new RegLoad(f, ofsNbits >> 6, (ofsNbits & 0x3f) + 1, in.getLong(p + 6));
            }
            case 6 -> {
                OfField src = byNxmHeader(in.getInt(p + 6));
                OfField dst = byNxmHeader(in.getInt(p + 10));
                yield src == null || dst == null ? null
                        : new RegMove(src, in.getUnsignedShort(p + 2), dst, in.getUnsignedShort(p + 4), in.getUnsignedShort(p));
            }
            case 16 -> Learn.decode(in, start, len);
            case 15 -> {
                int ofsNbits = in.getUnsignedShort(p);
                OfField f = byNxmHeader(in.getInt(p + 2));
                yield f == null ? null : new OutputReg(f, ofsNbits >> 6, (ofsNbits & 0x3f) + 1);
            }
            default -> null;
        };
    }

    /** {@code nat} or {@code nat(src|dst=IP[:PORT])}; other ranges are not ours and stay opaque. */
    private static OfAction decodeNat(ByteBuf in, int p) {
        int flags = in.getUnsignedShort(p + 2);
        int range = in.getUnsignedShort(p + 4);
        if (flags == 0 && range == 0) {
            return new Nat();
        }
        if ((flags & ~3) != 0 || (range & ~0x11) != 0 || (range & 1) == 0) {
            return null;
        }
        long ip = in.getUnsignedInt(p + 6);
        int port = (range & 0x10) != 0 ? in.getUnsignedShort(p + 10) : 0;
        return new NatTo((flags & 1) != 0, ip, port);
    }

    private static OfField byNxmHeader(int header) {
        for (OfField f : OfField.values()) {
            if (nxmHeader(f) == header) {
                return f;
            }
        }
        return OfField.byWireHeader(header);
    }

    private static long readAt(ByteBuf in, int at, int n) {
        long v = 0;
        for (int i = 0; i < n; i++) {
            v = (v << 8) | in.getUnsignedByte(at + i);
        }
        return v;
    }

    static String format(List<OfAction> actions) {
        if (actions.isEmpty()) {
            return "drop";
        }
        StringJoiner j = new StringJoiner(",");
        actions.forEach(a -> j.add(a.toString()));
        return j.toString();
    }
}
