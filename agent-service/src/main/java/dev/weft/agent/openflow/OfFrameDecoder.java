package dev.weft.agent.openflow;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;

import java.util.List;

/**
 * Cuts the byte stream from a switch into OpenFlow messages: an 8-byte header (version, type, length, xid) whose
 * length counts the header itself. A length below 8 cannot be a message and leaves no way to find the next one, so it
 * is an {@link OfException} naming the header (the connection then closes and reconnects); the 16-bit length bounds a
 * message to 64 KiB, so no length can make the agent buffer more than that. Each frame handed on is exactly one
 * message of at least 8 bytes.
 */
final class OfFrameDecoder extends ByteToMessageDecoder {

    static final int HEADER_BYTES = 8;

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        while (in.readableBytes() >= HEADER_BYTES) {
            int at = in.readerIndex();
            int length = in.getUnsignedShort(at + 2);
            if (length < HEADER_BYTES) {
                String header = "version " + in.getUnsignedByte(at) + ", type " + in.getUnsignedByte(at + 1);
                // drop what is buffered: the stream has lost its framing
                in.skipBytes(in.readableBytes());
                throw new OfException("malformed OpenFlow header: length " + length
                        + " is less than the 8-byte header (" + header + ")");
            }
            if (in.readableBytes() < length) {
                return;
            }
            out.add(in.readRetainedSlice(length));
        }
    }
}
