package dev.weft.agent.openflow;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * One OpenFlow 1.3 flow: table, priority, cookie, match and instructions (apply-actions, then an optional goto_table).
 * Flows are not kept as objects by the agent: {@link #encode()} gives the compact wire form that is stored and
 * replayed ({@link EncodedFlow} reads and changes it), and {@link #decodeAdd(byte[])} reads it back when someone asks
 * (CLI, errors).
 */
public record FlowMod(int table, int priority, long cookie, Match match, List<OfAction> actions, int gotoTable) {

    public static final int OFPT_FLOW_MOD = 14;
    public static final int ADD = 0, MODIFY = 1, MODIFY_STRICT = 2, DELETE = 3, DELETE_STRICT = 4;

    public FlowMod {
        Objects.requireNonNull(match);
        actions = List.copyOf(actions);
        if (table < 0 || table > 254) {
            throw new IllegalArgumentException("bad table " + table);
        }
        if (priority < 0 || priority > 0xffff) {
            throw new IllegalArgumentException("bad priority " + priority);
        }
        if (gotoTable >= 0 && gotoTable <= table) {
            throw new IllegalArgumentException("goto_table:" + gotoTable + " from table " + table + " (must go forward)");
        }
        boolean conj = actions.stream().anyMatch(a -> a instanceof OfAction.Conjunction);
        if (conj && (gotoTable >= 0 || actions.stream().anyMatch(a -> !(a instanceof OfAction.Conjunction)))) {
            throw new IllegalArgumentException("conjunction actions cannot be mixed with other actions");
        }
    }

    /** The flow_mod ADD message (xid 0). */
    public byte[] encode() {
        ByteBuf out = Unpooled.buffer(128);
        try {
            out.writeByte(4).writeByte(OFPT_FLOW_MOD).writeShort(0).writeInt(0);
            out.writeLong(cookie).writeLong(0);
            out.writeByte(table).writeByte(ADD).writeShort(0).writeShort(0).writeShort(priority);
            out.writeInt(0xffffffff).writeInt(0xffffffff).writeInt(0xffffffff).writeShort(0).writeShort(0);
            match.encode(out);
            if (!actions.isEmpty()) {
                int start = out.writerIndex();
                out.writeShort(4).writeShort(0).writeInt(0);
                for (OfAction a : actions) {
                    a.encode(out);
                }
                out.setShort(start + 2, out.writerIndex() - start);
            }
            if (gotoTable >= 0) {
                out.writeShort(1).writeShort(8).writeByte(gotoTable).writeZero(3);
            }
            out.setShort(2, out.writerIndex());
            byte[] bytes = new byte[out.readableBytes()];
            out.readBytes(bytes);
            return bytes;
        } finally {
            out.release();
        }
    }

    /** Reads an encoded flow_mod back (for display and error messages). */
    public static FlowMod decodeAdd(byte[] msg) {
        ByteBuf in = Unpooled.wrappedBuffer(msg);
        return decodeAt(in, EncodedFlow.OFS_MATCH, in.getUnsignedShort(2), msg[EncodedFlow.OFS_TABLE] & 0xff,
                in.getUnsignedShort(EncodedFlow.OFS_PRIORITY), in.getLong(EncodedFlow.OFS_COOKIE));
    }

    /** Reads a match and instructions from {@code matchOffset} to {@code end} (flow_mod or flow-stats entry). */
    static FlowMod decodeAt(ByteBuf in, int matchOffset, int end, int table, int priority, long cookie) {
        in.readerIndex(matchOffset);
        List<String> unknown = new ArrayList<>();
        Match m = Match.decode(in, unknown);
        List<OfAction> actions = new ArrayList<>();
        int gotoTable = -1;
        while (in.readerIndex() < end) {
            int start = in.readerIndex();
            int type = in.readUnsignedShort();
            int len = in.readUnsignedShort();
            if (len < 4) {
                break;
            }
            if (type == 4 || type == 3) {
                in.skipBytes(4);
                actions.addAll(OfAction.decodeList(in, start + len));
            } else if (type == 1) {
                gotoTable = in.readUnsignedByte();
            }
            in.readerIndex(start + len);
        }
        if (gotoTable >= 0 && gotoTable <= table) {
            gotoTable = -1;
        }
        try {
            return new FlowMod(table, priority, cookie, m, actions, gotoTable);
        } catch (IllegalArgumentException e) {
            // a flow someone else installed that our checks would refuse: still show it
            return new FlowMod(table, priority, cookie, m, List.of(new OfAction.Opaque(new byte[0])), -1);
        }
    }

    /** A DELETE of every flow whose cookie matches under the mask, in all tables. */
    public static byte[] deleteByCookie(long cookie, long mask) {
        ByteBuf out = Unpooled.buffer(56);
        out.writeByte(4).writeByte(OFPT_FLOW_MOD).writeShort(56).writeInt(0);
        out.writeLong(cookie).writeLong(mask);
        out.writeByte(0xff).writeByte(DELETE).writeShort(0).writeShort(0).writeShort(0);
        out.writeInt(0xffffffff).writeInt(0xffffffff).writeInt(0xffffffff).writeShort(0).writeShort(0);
        out.writeShort(1).writeShort(4).writeInt(0);
        byte[] bytes = new byte[56];
        out.readBytes(bytes);
        out.release();
        return bytes;
    }

    /** ovs-ofctl form: {@code table=90, priority=200,ip,reg1=0x6 actions=conjunction(1,2/2)}. */
    @Override
    public String toString() {
        String m = match.toString();
        String acts = OfAction.format(actions);
        if (gotoTable >= 0) {
            acts = actions.isEmpty() ? "goto_table:" + gotoTable : acts + ",goto_table:" + gotoTable;
        }
        return "table=" + table + ", priority=" + priority + (m.isEmpty() ? "" : "," + m) + " actions=" + acts;
    }

    /** A flow's identity as a hashable value (byte-array contents). */
    public record FlowKey(byte[] bytes) {
        @Override
        public boolean equals(Object o) {
            return o instanceof FlowKey k && java.util.Arrays.equals(bytes, k.bytes);
        }

        @Override
        public int hashCode() {
            return java.util.Arrays.hashCode(bytes);
        }

        public int table() {
            return bytes[0] & 0xff;
        }
    }
}
