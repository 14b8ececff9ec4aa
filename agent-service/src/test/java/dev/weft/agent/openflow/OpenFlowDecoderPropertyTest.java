package dev.weft.agent.openflow;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

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
 * back into exactly those messages, and refuses a length field below 4 with an error.
 */
class OpenFlowDecoderPropertyTest {

    private static final Duration BOUND = Duration.ofSeconds(2);

    @Provide
    Arbitrary<byte[]> matches() {
        // Mostly OXM-shaped: type 1, a length, entries with known and unknown headers.
        Arbitrary<byte[]> entry = Combinators.combine(Arbitraries.of(0x80000004, 0x80000106, 0x8000080c, 0x80001604,
                0x00010004, 0x0001d208, 0xffff0104, 0x12345678), Arbitraries.bytes().array(byte[].class).ofMaxSize(12))
                .as((h, v) -> {
                    ByteBuf b = Unpooled.buffer();
                    b.writeInt(h).writeBytes(v);
                    return copy(b);
                });
        Arbitrary<byte[]> oxm = Combinators.combine(entry.list().ofMaxSize(5), Arbitraries.integers().between(-8, 8),
                Arbitraries.integers().between(0, 9)).as((entries, lengthError, padding) -> {
            ByteBuf b = Unpooled.buffer();
            int len = 4 + entries.stream().mapToInt(e -> e.length).sum();
            b.writeShort(1).writeShort(Math.max(0, len + lengthError));
            entries.forEach(b::writeBytes);
            b.writeZero(padding);
            return copy(b);
        });
        return Arbitraries.oneOf(oxm, oxm, Arbitraries.bytes().array(byte[].class).ofMaxSize(64));
    }

    private static byte[] copy(ByteBuf b) {
        byte[] out = new byte[b.readableBytes()];
        b.readBytes(out);
        b.release();
        return out;
    }

    @Property(tries = 3000)
    void matchDecodeReturnsOrFailsClearly(@ForAll("matches") byte[] bytes) {
        assertTimeoutPreemptively(BOUND, () -> {
            try {
                Match.decode(Unpooled.wrappedBuffer(bytes), new ArrayList<>());
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage() != null && !e.getMessage().isBlank(), e.toString());
            } catch (IndexOutOfBoundsException e) {
                // a truncated message: the type says it (the JIT may drop the message of a hot implicit exception)
            }
        });
    }

    @Provide
    Arbitrary<byte[]> flowMods() {
        // A real ADD from the encoder with bytes flipped and the length fields damaged, plus arbitrary bytes.
        byte[] add = new FlowMod(0, 100, 0x1234L, Match.builder().inPort(3).build(), List.of(new OfAction.Output(4)), 1)
                .encode();
        Arbitrary<byte[]> mutated = Combinators.combine(Arbitraries.integers().between(0, add.length - 1).list().ofMaxSize(6),
                Arbitraries.bytes().list().ofSize(6), Arbitraries.integers().between(0, add.length)).as((at, values, cut) -> {
            byte[] m = Arrays.copyOf(add, cut);
            for (int i = 0; i < at.size(); i++) {
                if (at.get(i) < m.length) {
                    m[at.get(i)] = values.get(i);
                }
            }
            return m;
        });
        return Arbitraries.oneOf(mutated, mutated, Arbitraries.bytes().array(byte[].class).ofMaxSize(128));
    }

    @Property(tries = 3000)
    void flowModDecodeReturnsOrFailsClearly(@ForAll("flowMods") byte[] bytes) {
        assertTimeoutPreemptively(BOUND, () -> {
            try {
                FlowMod.decodeAdd(bytes);
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage() != null && !e.getMessage().isBlank(), e.toString());
            } catch (IndexOutOfBoundsException e) {
                // a truncated message: the type says it (the JIT may drop the message of a hot implicit exception)
            }
        });
    }

    /** OfConnection's framing: OpenFlow header version(1) type(1) length(2) xid(4), length counting the header. */
    private static EmbeddedChannel framing() {
        return new EmbeddedChannel(new LengthFieldBasedFrameDecoder(65535, 2, 2, -4, 0));
    }

    @Provide
    Arbitrary<List<byte[]>> messages() {
        return Combinators.combine(Arbitraries.integers().between(0, 255), Arbitraries.bytes().array(byte[].class)
                .ofMaxSize(300)).as((type, body) -> {
            ByteBuf b = Unpooled.buffer();
            b.writeByte(4).writeByte(type).writeShort(8 + body.length).writeInt(type * 31).writeBytes(body);
            return copy(b);
        }).list().ofMinSize(1).ofMaxSize(8);
    }

    @Property(tries = 1000)
    void anySplitOfAMessageStreamFramesBackToTheMessages(@ForAll("messages") List<byte[]> messages,
                                                         @ForAll("cuts") List<Integer> cuts) {
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
            assertArrayEquals(expected, copy(frame));
        }
        assertNull(ch.readInbound(), "no bytes left over as a frame");
        ch.finishAndReleaseAll();
    }

    @Provide
    Arbitrary<List<Integer>> cuts() {
        return Arbitraries.integers().between(0, 400).list().ofMaxSize(10);
    }

    @Property(tries = 500)
    void aLengthShorterThanTheHeaderIsAnErrorNotAHang(@ForAll("shortLengths") int length, @ForAll byte[] rest) {
        EmbeddedChannel ch = framing();
        ByteBuf b = Unpooled.buffer();
        b.writeByte(4).writeByte(0).writeShort(length);
        if (length < 4) {
            b.writeBytes(rest); // whatever follows a corrupt length is never framed
            assertThrows(DecoderException.class, () -> ch.writeInbound(b), "length " + length);
        } else {
            // 4..7 frame that many bytes, shorter than a header: OfConnection's handler then fails reading the xid and
            // drops the connection (an error, and a reconnect, not a hang)
            b.writeZero(length - 4);
            ch.writeInbound(b);
            ByteBuf frame = ch.readInbound();
            assertTrue(frame != null && frame.readableBytes() == length, "length " + length);
            frame.release();
        }
        try {
            ch.finishAndReleaseAll(); // the connection is dropped after a corrupt frame; what is left fails again
        } catch (DecoderException expected) {
            // the same corrupt length
        }
    }

    @Provide
    Arbitrary<Integer> shortLengths() {
        return Arbitraries.integers().between(0, 7);
    }
}
