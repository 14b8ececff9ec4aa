package dev.weft.agent.openflow;

import io.netty.buffer.ByteBuf;

import java.util.ArrayList;
import java.util.List;

/**
 * One OpenFlow 1.3 packet-in (OFPT_PACKET_IN; Open vSwitch speaks the same layout in 1.5 bar the version byte): why
 * the switch sent it ({@link #reason}), the table and the cookie of the flow whose {@code CONTROLLER} action sent it,
 * the pipeline fields at that moment ({@link #match}: in_port, the registers that were not zero, tunnel metadata,
 * conntrack state) and the frame, truncated to the action's max_len ({@link #totalLength} is its full length).
 */
public record PacketIn(int bufferId, int totalLength, int reason, int tableId, long cookie, Match match,
                       List<String> unknownFields, byte[] frame) {

    public static final int OFPT_PACKET_IN = 10;
    public static final int REASON_NO_MATCH = 0, REASON_ACTION = 1, REASON_INVALID_TTL = 2;
    /** Header, buffer id, total length, reason, table id, cookie: the bytes before the match. */
    private static final int OFS_MATCH = 24;

    public PacketIn {
        unknownFields = List.copyOf(unknownFields);
        frame = frame.clone();
    }

    @Override
    public byte[] frame() {
        return frame.clone();
    }

    /**
     * Reads a packet-in: {@code msg} is exactly one message (as the framing cut it). A body shorter than its fixed
     * part, a match that does not fit, or missing padding are an {@link OfException} saying which.
     */
    public static PacketIn decode(ByteBuf msg) {
        int start = msg.readerIndex();
        int length = msg.readableBytes();
        if (length < OFS_MATCH + 8) {
            throw new OfException("malformed packet-in: " + length + " bytes, less than the " + (OFS_MATCH + 8)
                    + " of one with an empty match");
        }
        int type = msg.getUnsignedByte(start + 1);
        if (type != OFPT_PACKET_IN) {
            throw new OfException("malformed packet-in: message type " + type);
        }
        int declared = msg.getUnsignedShort(start + 2);
        if (declared != length) {
            throw new OfException("malformed packet-in: length field " + declared + " but " + length + " bytes");
        }
        int bufferId = msg.getInt(start + 8);
        int totalLen = msg.getUnsignedShort(start + 12);
        int reason = msg.getUnsignedByte(start + 14);
        int table = msg.getUnsignedByte(start + 15);
        long cookie = msg.getLong(start + 16);
        ByteBuf body = msg.slice(start + OFS_MATCH, length - OFS_MATCH);
        List<String> unknown = new ArrayList<>();
        Match match = Match.decode(body, unknown);
        if (body.readableBytes() < 2) {
            throw new OfException("malformed packet-in: " + body.readableBytes() + " bytes after the match, less than"
                    + " its 2 bytes of padding");
        }
        body.skipBytes(2);
        byte[] frame = new byte[body.readableBytes()];
        body.readBytes(frame);
        return new PacketIn(bufferId, totalLen, reason, table, cookie, match, unknown, frame);
    }

    /** The OpenFlow port the packet came in on, or -1 when the switch did not say. */
    public int inPort() {
        MatchEntry e = match.get(OfField.IN_PORT);
        return e == null ? -1 : (int) e.value();
    }

    /** The value of a register when the packet was sent (a register not in the match was zero). */
    public long register(int n) {
        MatchEntry e = match.get(OfField.reg(n, true));
        return e == null ? 0 : e.value();
    }

    /** The value of a register field when the packet was sent. */
    public long field(RegField f) {
        return (register(f.reg()) & f.mask()) >>> f.start();
    }

    @Override
    public String toString() {
        return "packet-in reason=" + reason + " table=" + tableId + " cookie=0x" + Long.toHexString(cookie) + " "
                + match + " (" + frame.length + " of " + totalLength + " bytes)";
    }
}
