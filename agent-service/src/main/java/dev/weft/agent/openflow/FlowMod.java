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
        for (int i = 1; i < actions.size(); i++) {
            if (actions.get(i) instanceof OfAction.Meter) {
                throw new IllegalArgumentException("meter:N must be the first action (it is an instruction that runs"
                        + " before the actions)");
            }
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
            List<OfAction> applied = actions;
            if (!actions.isEmpty() && actions.get(0) instanceof OfAction.Meter m) {
                m.encode(out); // OFPIT_METER, before apply-actions
                applied = actions.subList(1, actions.size());
            }
            if (!applied.isEmpty()) {
                int start = out.writerIndex();
                out.writeShort(4).writeShort(0).writeInt(0);
                for (OfAction a : applied) {
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

    /**
     * Reads an encoded flow_mod back (for display and error messages). Bytes that are no OpenFlow 1.3 flow_mod, or
     * whose lengths do not add up, are an {@link OfException} naming what is wrong.
     */
    public static FlowMod decodeAdd(byte[] msg) {
        // header, cookie, mask, table, command, timeouts, priority, buffer, out_port, out_group, flags, pad, match header
        if (msg.length < EncodedFlow.OFS_MATCH + 8) {
            throw new OfException("malformed flow_mod: " + msg.length + " bytes, less than the "
                    + (EncodedFlow.OFS_MATCH + 8) + " of a flow_mod with an empty match");
        }
        ByteBuf in = Unpooled.wrappedBuffer(msg);
        if (msg[0] != 4 || msg[1] != OFPT_FLOW_MOD) {
            throw new OfException("malformed flow_mod: version " + (msg[0] & 0xff) + " type " + (msg[1] & 0xff)
                    + " (expected an OpenFlow 1.3 flow_mod: version 4 type " + OFPT_FLOW_MOD + ")");
        }
        int length = in.getUnsignedShort(2);
        if (length != msg.length) {
            throw new OfException("malformed flow_mod: length field " + length + " but " + msg.length + " bytes");
        }
        return decodeAt(in, EncodedFlow.OFS_MATCH, length, msg[EncodedFlow.OFS_TABLE] & 0xff,
                in.getUnsignedShort(EncodedFlow.OFS_PRIORITY), in.getLong(EncodedFlow.OFS_COOKIE));
    }

    /**
     * Reads a match and instructions from {@code matchOffset} to {@code end} (flow_mod or flow-stats entry); nothing
     * outside that range is read. An instruction or action whose length does not fit is an {@link OfException} naming
     * it and its offset.
     */
    static FlowMod decodeAt(ByteBuf buf, int matchOffset, int end, int table, int priority, long cookie) {
        if (matchOffset < 0 || end < matchOffset || end > buf.writerIndex()) {
            throw new OfException("malformed flow: match at " + matchOffset + " and end at " + end + " outside the "
                    + buf.writerIndex() + "-byte message");
        }
        // Everything below reads this slice, so a length that lies cannot reach into the next entry or beyond.
        ByteBuf in = buf.slice(matchOffset, end - matchOffset);
        int limit = in.writerIndex();
        List<String> unknown = new ArrayList<>();
        Match m = Match.decode(in, unknown);
        List<OfAction> actions = new ArrayList<>();
        int gotoTable = -1;
        while (in.readerIndex() < limit) {
            int start = in.readerIndex();
            int at = matchOffset + start;
            if (limit - start < 4) {
                throw new OfException("malformed flow: " + (limit - start) + " bytes at offset " + at
                        + ", less than an instruction header");
            }
            int type = in.readUnsignedShort();
            int len = in.readUnsignedShort();
            if (len < 4 || len > limit - start) {
                throw new OfException("malformed flow: instruction type " + type + " at offset " + at + " has length "
                        + len + (len < 4 ? ", less than its 4-byte header" : ", " + (limit - start) + " bytes left"));
            }
            if (type == 4 || type == 3) {
                if (len < 8) {
                    throw new OfException("malformed flow: actions instruction at offset " + at + " has length " + len
                            + ", less than its 8-byte header");
                }
                actions.addAll(decodeActions(in.slice(start + 8, len - 8), matchOffset + start + 8));
            } else if (type == 6) {
                if (len != 8) {
                    throw new OfException("malformed flow: meter instruction at offset " + at + " has length " + len
                            + ", expected 8");
                }
                try {
                    actions.add(0, new OfAction.Meter(in.getInt(start + 4)));
                } catch (IllegalArgumentException e) {
                    throw new OfException("malformed flow: " + e.getMessage());
                }
            } else if (type == 1) {
                if (len < 8) {
                    throw new OfException("malformed flow: goto_table instruction at offset " + at + " has length "
                            + len + ", expected 8");
                }
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
            try {
                return new FlowMod(table, priority, cookie, m, List.of(new OfAction.Opaque(new byte[0])), -1);
            } catch (IllegalArgumentException again) {
                throw new OfException("malformed flow: " + again.getMessage());
            }
        }
    }

    /**
     * The action list of one instruction, {@code actions} being exactly its bytes. Each action's header is checked
     * here (length at least 8, a multiple of 8, inside the list) and the action is read from a slice of its own
     * length, so an action (or a ct action's nested list) whose content does not fit its length is an OfException
     * naming it, never a read of the next action's bytes.
     */
    private static List<OfAction> decodeActions(ByteBuf actions, int offset) {
        int size = actions.writerIndex();
        List<OfAction> out = new ArrayList<>();
        for (int at = 0; at < size; ) {
            if (size - at < 4) {
                throw new OfException("malformed flow: " + (size - at) + " bytes at offset " + (offset + at)
                        + ", less than an action header");
            }
            int type = actions.getUnsignedShort(at);
            int len = actions.getUnsignedShort(at + 2);
            if (len < 8 || len % 8 != 0 || len > size - at) {
                throw new OfException("malformed flow: action type " + type + " at offset " + (offset + at)
                        + " has length " + len + (len > size - at ? ", " + (size - at) + " bytes left in its list"
                        : ", not a positive multiple of 8"));
            }
            try {
                out.add(OfAction.decode(actions.slice(at, len)));
            } catch (IndexOutOfBoundsException | IllegalArgumentException e) {
                // IndexOutOfBounds: the action's content runs past its own length; IllegalArgument: a bad value
                throw new OfException("malformed flow: action type " + type + " at offset " + (offset + at)
                        + " (length " + len + "): " + e.getMessage());
            }
            at += len;
        }
        return out;
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
            return EncodedFlow.identityHash(this); // not Arrays.hashCode: see EncodedFlow.identityHash
        }

        public int table() {
            return bytes[0] & 0xff;
        }
    }
}
