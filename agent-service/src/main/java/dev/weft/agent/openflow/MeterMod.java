package dev.weft.agent.openflow;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

/**
 * One OpenFlow 1.3 meter_mod (OFPT_METER_MOD) with a single drop band: packets above {@code rate} (kbit/s, or
 * packets/s with {@code packets}) are dropped, bursts up to {@code burst} (0: the switch's default) pass. Encoded as
 * {@code ovs-ofctl -O OpenFlow13 add-meter / mod-meter / del-meter} encodes it (checked byte-for-byte in tests).
 * Flows use a meter with {@link OfAction.Meter} as their first action; the agent puts one in front of every
 * {@code CONTROLLER} action so that no flood of packets can become a flood of packet-ins.
 */
public record MeterMod(int command, int meterId, boolean packets, long rate, long burst) {

    public static final int OFPT_METER_MOD = 29;
    public static final int ADD = 0, MODIFY = 1, DELETE = 2;
    /** The largest meter id (OFPM_MAX); above it are the virtual meters (slowpath, controller, all). */
    public static final long MAX_METER_ID = 0xffff0000L;
    private static final int OFPMF_KBPS = 1, OFPMF_PKTPS = 2, OFPMF_BURST = 4;
    private static final int OFPMBT_DROP = 1, HEADER = 16, BAND = 16;

    public MeterMod {
        if (command != ADD && command != MODIFY && command != DELETE) {
            throw new IllegalArgumentException("bad meter_mod command " + command);
        }
        if (Integer.toUnsignedLong(meterId) < 1 || Integer.toUnsignedLong(meterId) > MAX_METER_ID) {
            throw new IllegalArgumentException("meter id " + Integer.toUnsignedString(meterId) + " out of 1.." + MAX_METER_ID);
        }
        if (command != DELETE && (rate < 1 || rate > 0xffffffffL)) {
            throw new IllegalArgumentException("meter " + meterId + ": rate " + rate + " out of 1..4294967295");
        }
        if (burst < 0 || burst > 0xffffffffL) {
            throw new IllegalArgumentException("meter " + meterId + ": burst " + burst + " out of 0..4294967295");
        }
    }

    /** A meter of at most {@code perSecond} packets a second (ADD; replays use it too, after a switch restart). */
    public static MeterMod packetsPerSecond(int meterId, long perSecond, long burst) {
        return new MeterMod(ADD, meterId, true, perSecond, burst);
    }

    public static MeterMod kbps(int meterId, long kbps, long burst) {
        return new MeterMod(ADD, meterId, false, kbps, burst);
    }

    public static MeterMod delete(int meterId) {
        return new MeterMod(DELETE, meterId, false, 0, 0);
    }

    /** The same meter as a MODIFY (a meter that exists already: ADD would be refused with METER_EXISTS). */
    public MeterMod asModify() {
        return new MeterMod(MODIFY, meterId, packets, rate, burst);
    }

    public byte[] encode() {
        ByteBuf out = Unpooled.buffer(HEADER + BAND);
        try {
            int flags = command == DELETE ? 0 : (packets ? OFPMF_PKTPS : OFPMF_KBPS) | (burst > 0 ? OFPMF_BURST : 0);
            out.writeByte(4).writeByte(OFPT_METER_MOD).writeShort(0).writeInt(0);
            out.writeShort(command).writeShort(flags).writeInt(meterId);
            if (command != DELETE) {
                out.writeShort(OFPMBT_DROP).writeShort(BAND).writeInt((int) rate).writeInt((int) burst).writeZero(4);
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
     * Reads an encoded meter_mod back (display, tests). Anything but one with at most one drop band, lengths that add
     * up, is an {@link OfException} naming what is wrong.
     */
    public static MeterMod decode(byte[] msg) {
        if (msg.length < HEADER || msg[0] != 4 || msg[1] != OFPT_METER_MOD) {
            throw new OfException("malformed meter_mod: " + msg.length + " bytes, version " + (msg.length > 0 ? msg[0] : -1));
        }
        ByteBuf in = Unpooled.wrappedBuffer(msg);
        if (in.getUnsignedShort(2) != msg.length) {
            throw new OfException("malformed meter_mod: length field " + in.getUnsignedShort(2) + " but " + msg.length + " bytes");
        }
        int command = in.getUnsignedShort(8);
        int flags = in.getUnsignedShort(10);
        int id = in.getInt(12);
        long rate = 0, burst = 0;
        if (msg.length == HEADER + BAND) {
            if (in.getUnsignedShort(HEADER) != OFPMBT_DROP || in.getUnsignedShort(HEADER + 2) != BAND) {
                throw new OfException("malformed meter_mod: band type " + in.getUnsignedShort(HEADER) + " length "
                        + in.getUnsignedShort(HEADER + 2) + " (expected one 16-byte drop band)");
            }
            rate = in.getUnsignedInt(HEADER + 4);
            burst = in.getUnsignedInt(HEADER + 8);
        } else if (msg.length != HEADER) {
            throw new OfException("malformed meter_mod: " + msg.length + " bytes (expected " + HEADER + " or "
                    + (HEADER + BAND) + ")");
        }
        try {
            return new MeterMod(command, id, (flags & OFPMF_PKTPS) != 0, rate, burst);
        } catch (IllegalArgumentException e) {
            throw new OfException("malformed meter_mod: " + e.getMessage());
        }
    }

    /** As ovs-ofctl writes it: {@code meter=1,pktps,burst,bands=type=drop,rate=10,burst_size=5}. */
    @Override
    public String toString() {
        if (command == DELETE) {
            return "delete meter=" + Integer.toUnsignedString(meterId);
        }
        return "meter=" + Integer.toUnsignedString(meterId) + "," + (packets ? "pktps" : "kbps") + (burst > 0 ? ",burst" : "")
                + ",bands=type=drop,rate=" + rate + (burst > 0 ? ",burst_size=" + burst : "");
    }
}
