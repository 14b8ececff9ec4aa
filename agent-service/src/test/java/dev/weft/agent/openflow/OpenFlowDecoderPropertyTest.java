package dev.weft.agent.openflow;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The OpenFlow decoders on arbitrary bytes: {@link Match#decode} and {@link FlowMod#decodeAdd} (also what flow-stats
 * replies go through) return a value or throw an {@link IllegalArgumentException} naming the problem or an
 * {@link IndexOutOfBoundsException} for a truncated message, within a bound, never anything else and never a hang; and the message framing (the same
 * {@link LengthFieldBasedFrameDecoder} configuration as {@link OfConnection}) cuts any split byte stream of messages
 * back into exactly those messages, and refuses a length field below 4 with an error. Inputs come from a fixed-seed
 * {@link Random}; the seed is in every failure message, so a failure replays.
 */
class OpenFlowDecoderPropertyTest {

    private static final Duration BOUND = Duration.ofSeconds(2);

    private static byte[] randomBytes(Random rnd, int maxSize) {
        byte[] b = new byte[rnd.nextInt(maxSize + 1)];
        rnd.nextBytes(b);
        return b;
    }

    private static int between(Random rnd, int min, int max) {
        return min + rnd.nextInt(max - min + 1);
    }

    private static final int[] OXM_HEADERS = {0x80000004, 0x80000106, 0x8000080c, 0x80001604, 0x00010004, 0x0001d208,
            0xffff0104, 0x12345678};

    /** Mostly OXM-shaped: type 1, a length, entries with known and unknown headers; else arbitrary bytes. */
    private static byte[] match(Random rnd) {
        if (rnd.nextInt(3) == 2) {
            return randomBytes(rnd, 64);
        }
        List<byte[]> entries = new ArrayList<>();
        for (int n = rnd.nextInt(6); n > 0; n--) {
            ByteBuf e = Unpooled.buffer();
            e.writeInt(OXM_HEADERS[rnd.nextInt(OXM_HEADERS.length)]).writeBytes(randomBytes(rnd, 12));
            entries.add(copy(e));
        }
        int lengthError = between(rnd, -8, 8);
        int padding = between(rnd, 0, 9);
        ByteBuf b = Unpooled.buffer();
        int len = 4 + entries.stream().mapToInt(e -> e.length).sum();
        b.writeShort(1).writeShort(Math.max(0, len + lengthError));
        entries.forEach(b::writeBytes);
        b.writeZero(padding);
        return copy(b);
    }

    private static byte[] copy(ByteBuf b) {
        byte[] out = new byte[b.readableBytes()];
        b.readBytes(out);
        b.release();
        return out;
    }

    @Test
    void matchDecodeReturnsOrFailsClearly() {
        long seed = 31;
        Random rnd = new Random(seed);
        for (int i = 0; i < 3000; i++) {
            byte[] bytes = match(rnd);
            String what = "seed " + seed + " try " + i + ": " + HexFormat.of().formatHex(bytes);
            assertTimeoutPreemptively(BOUND, () -> {
                try {
                    Match.decode(Unpooled.wrappedBuffer(bytes), new ArrayList<>());
                } catch (IllegalArgumentException e) {
                    assertTrue(e.getMessage() != null && !e.getMessage().isBlank(), e + ", " + what);
                } catch (IndexOutOfBoundsException e) {
                    // a truncated message: the type says it (the JIT may drop the message of a hot implicit exception)
                } catch (RuntimeException e) {
                    throw new AssertionError(what + " threw " + e, e);
                }
            }, what);
        }
    }

    /** A real ADD from the encoder with bytes flipped and the length fields damaged, plus arbitrary bytes. */
    private static byte[] flowMod(Random rnd, byte[] add) {
        if (rnd.nextInt(3) == 2) {
            return randomBytes(rnd, 128);
        }
        byte[] m = Arrays.copyOf(add, rnd.nextInt(add.length + 1));
        for (int n = rnd.nextInt(7); n > 0; n--) {
            int at = rnd.nextInt(add.length);
            if (at < m.length) {
                m[at] = (byte) rnd.nextInt(256);
            }
        }
        return m;
    }

    @Test
    void flowModDecodeReturnsOrFailsClearly() {
        long seed = 32;
        Random rnd = new Random(seed);
        byte[] add = new FlowMod(0, 100, 0x1234L, Match.builder().inPort(3).build(), List.of(new OfAction.Output(4)), 1)
                .encode();
        for (int i = 0; i < 3000; i++) {
            byte[] bytes = flowMod(rnd, add);
            String what = "seed " + seed + " try " + i + ": " + HexFormat.of().formatHex(bytes);
            assertTimeoutPreemptively(BOUND, () -> {
                try {
                    FlowMod.decodeAdd(bytes);
                } catch (IllegalArgumentException e) {
                    assertTrue(e.getMessage() != null && !e.getMessage().isBlank(), e + ", " + what);
                } catch (IndexOutOfBoundsException e) {
                    // a truncated message: the type says it (the JIT may drop the message of a hot implicit exception)
                } catch (RuntimeException e) {
                    throw new AssertionError(what + " threw " + e, e);
                }
            }, what);
        }
    }

    /** OfConnection's framing: OpenFlow header version(1) type(1) length(2) xid(4), length counting the header. */
    private static EmbeddedChannel framing() {
        return new EmbeddedChannel(new LengthFieldBasedFrameDecoder(65535, 2, 2, -4, 0));
    }

    @Test
    void anySplitOfAMessageStreamFramesBackToTheMessages() {
        long seed = 33;
        Random rnd = new Random(seed);
        for (int i = 0; i < 1000; i++) {
            List<byte[]> messages = new ArrayList<>();
            for (int n = between(rnd, 1, 8); n > 0; n--) {
                int type = rnd.nextInt(256);
                byte[] body = randomBytes(rnd, 300);
                ByteBuf b = Unpooled.buffer();
                b.writeByte(4).writeByte(type).writeShort(8 + body.length).writeInt(type * 31).writeBytes(body);
                messages.add(copy(b));
            }
            List<Integer> cuts = new ArrayList<>();
            for (int n = rnd.nextInt(11); n > 0; n--) {
                cuts.add(rnd.nextInt(401));
            }
            String what = "seed " + seed + " try " + i + ": " + messages.size() + " messages, cuts " + cuts;
            ByteBuf all = Unpooled.buffer();
            messages.forEach(all::writeBytes);
            byte[] stream = copy(all);
            EmbeddedChannel ch = framing();
            int at = 0;
            for (int cut : cuts) {
                int end = Math.min(stream.length, at + cut);
                ch.writeInbound(Unpooled.wrappedBuffer(Arrays.copyOfRange(stream, at, end)));
                at = end;
            }
            ch.writeInbound(Unpooled.wrappedBuffer(Arrays.copyOfRange(stream, at, stream.length)));
            for (byte[] expected : messages) {
                ByteBuf frame = ch.readInbound();
                assertArrayEquals(expected, frame == null ? null : copy(frame), what);
            }
            assertNull(ch.readInbound(), "no bytes left over as a frame: " + what);
            ch.finishAndReleaseAll();
        }
    }

    @Test
    void aLengthShorterThanTheHeaderIsAnErrorNotAHang() {
        long seed = 34;
        Random rnd = new Random(seed);
        for (int i = 0; i < 500; i++) {
            int length = rnd.nextInt(8);
            byte[] rest = randomBytes(rnd, 32);
            String what = "seed " + seed + " try " + i + ": length " + length;
            EmbeddedChannel ch = framing();
            ByteBuf b = Unpooled.buffer();
            b.writeByte(4).writeByte(0).writeShort(length);
            if (length < 4) {
                b.writeBytes(rest); // whatever follows a corrupt length is never framed
                assertThrows(DecoderException.class, () -> ch.writeInbound(b), what);
            } else {
                // 4..7 frame that many bytes, shorter than a header: OfConnection's handler then fails reading the xid and
                // drops the connection (an error, and a reconnect, not a hang)
                b.writeZero(length - 4);
                ch.writeInbound(b);
                ByteBuf frame = ch.readInbound();
                assertTrue(frame != null && frame.readableBytes() == length, what);
                frame.release();
            }
            try {
                ch.finishAndReleaseAll(); // the connection is dropped after a corrupt frame; what is left fails again
            } catch (DecoderException expected) {
                // the same corrupt length
            }
        }
    }
}
