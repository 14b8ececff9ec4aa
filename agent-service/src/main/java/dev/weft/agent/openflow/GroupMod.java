package dev.weft.agent.openflow;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

import java.util.List;
import java.util.Objects;
import java.util.StringJoiner;

/**
 * One OpenFlow 1.3 group_mod (OFPT_GROUP_MOD): a group of type select, all or indirect with its buckets, encoded as
 * {@code ovs-ofctl -O OpenFlow13 add-group / mod-group / add-or-mod-group / del-groups} encodes it (checked
 * byte-for-byte in tests). Groups are stored in this wire form like flows ({@link #encode()}), replayed with
 * {@link #ADD_OR_MOD} so that a replay over a switch that kept them is harmless.
 *
 * <p>One message holds at most 65535 bytes: about 800 buckets of a Service group (80 bytes each). Larger sets are
 * split by the caller into chained groups ({@code dev.weft.agent.service.ServiceGroups}).
 */
public record GroupMod(int command, int type, int groupId, List<Bucket> buckets) {

    public static final int OFPT_GROUP_MOD = 15;
    public static final int ADD = 0, MODIFY = 1, DELETE = 2;
    /** Open vSwitch's extension command: create the group, or replace it when it exists. */
    public static final int ADD_OR_MOD = 0x8000;
    public static final int TYPE_ALL = 0, TYPE_SELECT = 1, TYPE_INDIRECT = 2;
    /** The largest group id (OFPG_MAX); above it are the reserved ids (OFPG_ALL = 0xfffffffc). */
    public static final long MAX_GROUP_ID = 0xffffff00L;
    public static final int MAX_MESSAGE = 0xffff;
    private static final int HEADER = 16, BUCKET_HEADER = 16;

    /** A bucket: its weight (select groups pick buckets in proportion to it) and its actions. */
    public record Bucket(int weight, List<OfAction> actions) {
        public Bucket {
            if (weight < 0 || weight > 0xffff) {
                throw new IllegalArgumentException("bucket weight " + weight + " out of 0..65535");
            }
            actions = List.copyOf(actions);
        }

        void encode(ByteBuf out) {
            int start = out.writerIndex();
            out.writeShort(0).writeShort(weight).writeInt(0xffffffff).writeInt(0xffffffff).writeZero(4);
            for (OfAction a : actions) {
                a.encode(out);
            }
            out.setShort(start, out.writerIndex() - start);
        }

        /** Encoded size in bytes (for splitting large groups before they exceed one message). */
        public int size() {
            ByteBuf b = Unpooled.buffer(64);
            try {
                encode(b);
                return b.readableBytes();
            } finally {
                b.release();
            }
        }
    }

    public GroupMod {
        buckets = List.copyOf(buckets);
        if (Integer.toUnsignedLong(groupId) > MAX_GROUP_ID && command != DELETE) {
            throw new IllegalArgumentException("group id " + Integer.toUnsignedString(groupId) + " is reserved (max "
                    + MAX_GROUP_ID + ")");
        }
        if (command != ADD && command != MODIFY && command != DELETE && command != ADD_OR_MOD) {
            throw new IllegalArgumentException("bad group_mod command " + command);
        }
        if (type < TYPE_ALL || type > TYPE_INDIRECT) {
            throw new IllegalArgumentException("bad group type " + type);
        }
        if (type == TYPE_INDIRECT && buckets.size() != 1 && command != DELETE) {
            throw new IllegalArgumentException("an indirect group has exactly one bucket, not " + buckets.size());
        }
        Objects.requireNonNull(buckets);
    }

    /** A select group (ADD_OR_MOD: what the agent installs and replays). */
    public static GroupMod select(int groupId, List<Bucket> buckets) {
        return new GroupMod(ADD_OR_MOD, TYPE_SELECT, groupId, buckets);
    }

    /** The delete of one group (Open vSwitch also deletes every flow that sends to it). */
    public static byte[] delete(int groupId) {
        return new GroupMod(DELETE, TYPE_ALL, groupId, List.of()).encode();
    }

    public byte[] encode() {
        ByteBuf out = Unpooled.buffer(HEADER + buckets.size() * 80);
        try {
            out.writeByte(4).writeByte(OFPT_GROUP_MOD).writeShort(0).writeInt(0);
            out.writeShort(command).writeByte(type).writeByte(0).writeInt(groupId);
            for (Bucket b : buckets) {
                b.encode(out);
            }
            if (out.readableBytes() > MAX_MESSAGE) {
                throw new IllegalArgumentException("group " + Integer.toUnsignedString(groupId) + " with " + buckets.size()
                        + " buckets needs " + out.readableBytes() + " bytes, more than one OpenFlow message holds ("
                        + MAX_MESSAGE + "): split it into chained groups");
            }
            out.setShort(2, out.writerIndex());
            byte[] bytes = new byte[out.readableBytes()];
            out.readBytes(bytes);
            return bytes;
        } finally {
            out.release();
        }
    }

    /** How many buckets of {@code bucketSize} bytes one message holds. */
    public static int maxBuckets(int bucketSize) {
        return (MAX_MESSAGE - HEADER) / bucketSize;
    }

    /** Reads an encoded group_mod back (display, tests). */
    public static GroupMod decode(byte[] msg) {
        ByteBuf in = Unpooled.wrappedBuffer(msg);
        if (msg.length < HEADER || msg[0] != 4 || msg[1] != OFPT_GROUP_MOD || in.getUnsignedShort(2) != msg.length) {
            throw new IllegalArgumentException("not an encoded OpenFlow 1.3 group_mod (" + msg.length + " bytes)");
        }
        int command = in.getUnsignedShort(8);
        int type = in.getUnsignedByte(10);
        int id = in.getInt(12);
        java.util.ArrayList<Bucket> buckets = new java.util.ArrayList<>();
        int at = HEADER;
        while (at + BUCKET_HEADER <= msg.length) {
            int len = in.getUnsignedShort(at);
            if (len < BUCKET_HEADER || at + len > msg.length) {
                throw new IllegalArgumentException("malformed bucket at offset " + at + ": length " + len);
            }
            in.readerIndex(at + BUCKET_HEADER);
            buckets.add(new Bucket(in.getUnsignedShort(at + 2), OfAction.decodeList(in, at + len)));
            at += len;
        }
        return new GroupMod(command, type, id, buckets);
    }

    /** The group id of an encoded group_mod. */
    public static int groupIdOf(byte[] msg) {
        return ((msg[12] & 0xff) << 24) | ((msg[13] & 0xff) << 16) | ((msg[14] & 0xff) << 8) | (msg[15] & 0xff);
    }

    /** As {@code ovs-ofctl dump-groups} prints it: {@code group_id=1,type=select,bucket=weight:100,actions=...}. */
    @Override
    public String toString() {
        StringJoiner j = new StringJoiner(",");
        j.add("group_id=" + Integer.toUnsignedString(groupId));
        if (command == DELETE) {
            return "delete " + j;
        }
        j.add("type=" + switch (type) {
            case TYPE_ALL -> "all";
            case TYPE_SELECT -> "select";
            default -> "indirect";
        });
        for (Bucket b : buckets) {
            String acts = b.actions().isEmpty() ? "drop" : OfAction.format(b.actions());
            // ovs-ofctl leaves out the default weight, 1
            j.add("bucket=" + (type == TYPE_SELECT && b.weight() != 1 ? "weight:" + b.weight() + "," : "") + "actions=" + acts);
        }
        return j.toString();
    }
}
