package dev.weft.agent.openflow;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

import java.util.List;

/**
 * One OpenFlow 1.3 packet-out (OFPT_PACKET_OUT, no buffer): the switch applies {@code actions} to {@code frame} as if
 * it had come in on {@code inPort}. {@code output:TABLE} ({@link #toPipeline}) makes the packet traverse the
 * pipeline from table 0 with that in_port (how traceflow injects a packet at a pod's port); {@code output:N} sends it
 * out of port N directly; {@code resubmit(,T)} starts it in table T (Open vSwitch runs Nicira actions in packet-outs).
 */
public record PacketOut(int inPort, List<OfAction> actions, byte[] frame) {

    public static final int OFPT_PACKET_OUT = 13;
    private static final int OFP_NO_BUFFER = 0xffffffff, HEADER = 24;
    /** Largest Ethernet frame we send (a packet-out is one OpenFlow message of at most 64 KiB). */
    public static final int MAX_FRAME = 65535 - HEADER - 512;

    public PacketOut {
        actions = List.copyOf(actions);
        frame = frame.clone();
        if (frame.length < 14 || frame.length > MAX_FRAME) {
            throw new IllegalArgumentException("packet-out frame of " + frame.length + " bytes (14.." + MAX_FRAME + ")");
        }
        for (OfAction a : actions) {
            if (a instanceof OfAction.Meter || a instanceof OfAction.Conjunction) {
                throw new IllegalArgumentException(a + " is not an action a packet-out can carry");
            }
        }
    }

    /** The packet enters the pipeline at table 0 as if it had arrived on {@code inPort}. */
    public static PacketOut toPipeline(int inPort, byte[] frame) {
        return new PacketOut(inPort, List.of(new OfAction.Output(OfAction.OFPP_TABLE)), frame);
    }

    /** The packet leaves by {@code port} (from the controller: in_port is OFPP_CONTROLLER). */
    public static PacketOut toPort(int port, byte[] frame) {
        return new PacketOut(OfAction.OFPP_CONTROLLER, List.of(new OfAction.Output(port)), frame);
    }

    @Override
    public byte[] frame() {
        return frame.clone();
    }

    public byte[] encode() {
        ByteBuf out = Unpooled.buffer(HEADER + 16 * actions.size() + frame.length);
        try {
            out.writeByte(4).writeByte(OFPT_PACKET_OUT).writeShort(0).writeInt(0);
            out.writeInt(OFP_NO_BUFFER).writeInt(inPort).writeShort(0).writeZero(6);
            for (OfAction a : actions) {
                a.encode(out);
            }
            out.setShort(16, out.writerIndex() - HEADER);
            out.writeBytes(frame);
            out.setShort(2, out.writerIndex());
            byte[] bytes = new byte[out.readableBytes()];
            out.readBytes(bytes);
            return bytes;
        } finally {
            out.release();
        }
    }

    @Override
    public String toString() {
        return "packet-out in_port=" + portName(inPort) + " actions=" + OfAction.format(actions) + " (" + frame.length
                + " bytes)";
    }

    static String portName(int port) {
        return port == OfAction.OFPP_CONTROLLER ? "CONTROLLER" : Integer.toUnsignedString(port);
    }
}
