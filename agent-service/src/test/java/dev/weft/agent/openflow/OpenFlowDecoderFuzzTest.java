package dev.weft.agent.openflow;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every OpenFlow decode path of the agent on hostile bytes: {@link FlowMod#decodeAdd} (stored flows, error messages),
 * {@link Match#decode}, the flow-stats reply decoder and the connection's framing ({@link OfFrameDecoder}). Inputs are
 * the real encodings of {@link FlowEncodingTest#cases()} mutated (truncated, bits flipped, length fields lying, bytes
 * inserted, removed or spliced from another flow) and arbitrary bytes, drawn from a fixed-seed {@link Random}. The only
 * outcomes allowed are a decoded value (which must also print) or an {@link OfException} whose message says what was
 * malformed; anything else fails with the random seed, the try and the input in hex, so it replays. Each loop runs
 * under one preemptive bound, far above its run time, that only a hang or a runaway loop reaches.
 */
class OpenFlowDecoderFuzzTest {

    static final int FLOW_MOD_TRIES = 100_000, MATCH_TRIES = 100_000, FLOW_STATS_TRIES = 50_000, FRAMING_TRIES = 20_000;
    private static final Duration HANG_GUARD = Duration.ofSeconds(120);
    private static final HexFormat HEX = HexFormat.of();

    private static List<byte[]> corpus() {
        return FlowEncodingTest.cases().values().stream().map(FlowMod::encode).toList();
    }

    /** Outcome counts of one loop, printed so a reader sees both outcomes were exercised. */
    private static final class Tally {
        int decoded, refused;

        void print(String what, long seed, int tries, long startNanos) {
            System.out.printf("%s: seed %d, %d tries: %d decoded, %d refused with OfException, %d ms%n", what, seed,
                    tries, decoded, refused, (System.nanoTime() - startNanos) / 1_000_000);
            assertTrue(decoded > tries / 100 && refused > tries / 100,
                    what + ": both outcomes must be exercised: " + decoded + " decoded, " + refused + " refused");
        }
    }

    /** Runs {@code decode}; a value is printed, an OfException must say "malformed"; anything else fails the test. */
    private static <T> void expectDecodedOrRefused(Tally tally, String what, byte[] input, Function<byte[], T> decode) {
        try {
            T value = decode.apply(input);
            assertTrue(value != null && !value.toString().isEmpty(), what);
            tally.decoded++;
        } catch (OfException e) {
            if (e.getMessage() == null || !e.getMessage().contains("malformed")) {
                throw new AssertionError(what + " " + HEX.formatHex(input) + ": OfException without a clear message: " + e, e);
            }
            tally.refused++;
        } catch (RuntimeException | StackOverflowError | OutOfMemoryError e) {
            throw new AssertionError(what + " " + HEX.formatHex(input) + " threw " + e, e);
        }
    }

    // ------------------------------------------------------------------ mutations

    private static int u16(byte[] b, int at) {
        return (b[at] & 0xff) << 8 | (b[at + 1] & 0xff);
    }

    private static void setU16(byte[] b, int at, int v) {
        if (at + 1 < b.length) {
            b[at] = (byte) (v >> 8);
            b[at + 1] = (byte) v;
        }
    }

    /** A length that lies: small (below any header), off by a little, or huge. */
    private static int lie(Random rnd, int truth) {
        return switch (rnd.nextInt(4)) {
            case 0 -> rnd.nextInt(9);
            case 1 -> Math.max(0, truth + rnd.nextInt(17) - 8);
            case 2 -> 0xffff - rnd.nextInt(4);
            default -> rnd.nextInt(0x10000);
        };
    }

    /** Offsets of the length fields of a valid flow_mod: header, match, each instruction and each top-level action. */
    private static List<Integer> lengthFields(byte[] flowMod) {
        if (flowMod.length < EncodedFlow.OFS_MATCH + 4) {
            return List.of(2);
        }
        List<Integer> at = new ArrayList<>(List.of(2, EncodedFlow.OFS_MATCH + 2));
        int matchLen = u16(flowMod, EncodedFlow.OFS_MATCH + 2);
        int i = EncodedFlow.OFS_MATCH + (matchLen + 7) / 8 * 8;
        while (i + 4 <= flowMod.length) {
            int type = u16(flowMod, i), len = u16(flowMod, i + 2);
            at.add(i + 2);
            if ((type == 3 || type == 4) && len >= 8) {
                // (an earlier mutation may have made the lengths lie: stay inside the array)
                for (int a = i + 8; a + 4 <= Math.min(i + len, flowMod.length); a += Math.max(8, u16(flowMod, a + 2))) {
                    at.add(a + 2);
                }
            }
            i += Math.max(4, len);
        }
        return at;
    }

    /** One to three mutations of a valid flow_mod; the header length is fixed up or not, at random. */
    static byte[] mutateFlowMod(Random rnd, List<byte[]> corpus) {
        byte[] m = corpus.get(rnd.nextInt(corpus.size())).clone();
        if (rnd.nextInt(20) == 0) {
            // arbitrary content behind a plausible header
            byte[] r = new byte[rnd.nextInt(200)];
            rnd.nextBytes(r);
            if (r.length >= 4) {
                r[0] = 4;
                r[1] = FlowMod.OFPT_FLOW_MOD;
                setU16(r, 2, r.length);
            }
            return r;
        }
        for (int n = 1 + rnd.nextInt(3); n > 0; n--) {
            List<Integer> lengths = m.length > 4 ? lengthFields(m) : List.of();
            switch (rnd.nextInt(8)) {
                case 0 -> m = Arrays.copyOf(m, rnd.nextInt(m.length + 1)); // truncated
                case 1 -> {
                    if (m.length > 0) {
                        int at = rnd.nextInt(m.length);
                        m[at] ^= (byte) (1 << rnd.nextInt(8)); // a bit flip
                    }
                }
                case 2 -> {
                    if (m.length > 0) {
                        m[rnd.nextInt(m.length)] = (byte) rnd.nextInt(256);
                    }
                }
                case 3, 4 -> {
                    if (!lengths.isEmpty()) {
                        int at = lengths.get(rnd.nextInt(lengths.size()));
                        if (at + 1 < m.length) {
                            setU16(m, at, lie(rnd, u16(m, at)));
                        }
                    }
                }
                case 5 -> { // bytes inserted
                    int at = rnd.nextInt(m.length + 1);
                    byte[] ins = new byte[1 + rnd.nextInt(16)];
                    rnd.nextBytes(ins);
                    byte[] out = new byte[m.length + ins.length];
                    System.arraycopy(m, 0, out, 0, at);
                    System.arraycopy(ins, 0, out, at, ins.length);
                    System.arraycopy(m, at, out, at + ins.length, m.length - at);
                    m = out;
                }
                case 6 -> { // a range removed
                    if (m.length > 0) {
                        int at = rnd.nextInt(m.length);
                        int len = Math.min(m.length - at, 1 + rnd.nextInt(16));
                        byte[] out = new byte[m.length - len];
                        System.arraycopy(m, 0, out, 0, at);
                        System.arraycopy(m, at + len, out, at, m.length - at - len);
                        m = out;
                    }
                }
                default -> { // the head of this flow and the tail of another
                    byte[] other = corpus.get(rnd.nextInt(corpus.size()));
                    int cut = rnd.nextInt(Math.min(m.length, other.length) + 1);
                    byte[] out = Arrays.copyOf(m, cut + other.length - cut);
                    System.arraycopy(other, cut, out, cut, other.length - cut);
                    m = out;
                }
            }
            if (rnd.nextBoolean()) {
                setU16(m, 2, m.length); // a consistent header length, so the lie is deeper inside
            }
        }
        return m;
    }

    // ------------------------------------------------------------------ flow_mod

    @Test
    void flowModDecodeOnMutatedAndArbitraryBytes() {
        long seed = 14_001;
        Random rnd = new Random(seed);
        List<byte[]> corpus = corpus();
        Tally tally = new Tally();
        long start = System.nanoTime();
        assertTimeoutPreemptively(HANG_GUARD, () -> {
            for (int i = 0; i < FLOW_MOD_TRIES; i++) {
                byte[] m = mutateFlowMod(rnd, corpus);
                expectDecodedOrRefused(tally, "seed " + seed + " try " + i, m, FlowMod::decodeAdd);
            }
        });
        tally.print("FlowMod.decodeAdd", seed, FLOW_MOD_TRIES, start);
    }

    @Test
    void validFlowModsDecodeToThemselves() {
        for (FlowMod f : FlowEncodingTest.cases().values()) {
            assertEquals(f, FlowMod.decodeAdd(f.encode()));
        }
    }

    private static String refusal(byte[] m) {
        return assertThrows(OfException.class, () -> FlowMod.decodeAdd(m), HEX.formatHex(m)).getMessage();
    }

    @Test
    void targetedMalformedFlowModsNameWhatIsWrong() {
        FlowMod flow = FlowEncodingTest.cases().get("table=30,priority=200,ip actions=ct(table=31,zone=65520,nat)");
        byte[] m = flow.encode();
        int matchLen = u16(m, EncodedFlow.OFS_MATCH + 2);
        int instr = EncodedFlow.OFS_MATCH + (matchLen + 7) / 8 * 8;
        int ct = instr + 8;

        assertEquals("malformed flow_mod: 20 bytes, less than the 56 of a flow_mod with an empty match",
                refusal(Arrays.copyOf(m, 20)));
        byte[] cut = Arrays.copyOf(m, m.length - 8);
        assertEquals("malformed flow_mod: length field " + m.length + " but " + cut.length + " bytes", refusal(cut));
        byte[] notFlowMod = m.clone();
        notFlowMod[1] = 10;
        assertTrue(refusal(notFlowMod).contains("version 4 type 10"));

        byte[] matchLie = m.clone();
        setU16(matchLie, EncodedFlow.OFS_MATCH + 2, 2);
        assertEquals("malformed match: length 2 is less than its 4-byte header", refusal(matchLie));
        setU16(matchLie, EncodedFlow.OFS_MATCH + 2, 0xffff);
        assertTrue(refusal(matchLie).startsWith("malformed match: length 65535 (padded 65536) but only"));

        byte[] entryLie = m.clone(); // eth_type (4 + 2 bytes) claiming 4 value bytes
        entryLie[EncodedFlow.OFS_MATCH + 4 + 3] = 4;
        assertTrue(refusal(entryLie).contains("has length 4, expected 2")
                || refusal(entryLie).contains("claims"), refusal(entryLie));

        byte[] instrLie = m.clone();
        setU16(instrLie, instr + 2, 3);
        assertEquals("malformed flow: instruction type 4 at offset " + instr + " has length 3, less than its 4-byte header",
                refusal(instrLie));
        setU16(instrLie, instr + 2, 0x1000);
        assertTrue(refusal(instrLie).contains("has length 4096, " + (m.length - instr) + " bytes left"));

        byte[] actionLie = m.clone();
        setU16(actionLie, ct + 2, 0);
        assertEquals("malformed flow: action type 65535 at offset " + ct + " has length 0, not a positive multiple of 8",
                refusal(actionLie));
        setU16(actionLie, ct + 2, 0x400);
        assertTrue(refusal(actionLie).contains("has length 1024, " + (m.length - ct) + " bytes left in its list"));

        byte[] nestedLie = m.clone(); // the nat inside ct claims more than the ct action holds
        setU16(nestedLie, ct + 24 + 2, 64);
        assertTrue(refusal(nestedLie).startsWith("malformed flow: action type 65535 at offset " + ct + " (length 40)"),
                refusal(nestedLie));
    }

    // ------------------------------------------------------------------ match

    /** A match: one from a real flow (mutated), or OXM-shaped soup with known and unknown headers. */
    private static byte[] matchInput(Random rnd, List<byte[]> corpus) {
        if (rnd.nextInt(3) == 0) {
            ByteBuf b = Unpooled.buffer();
            int[] headers = {0x80000004, 0x80000106, 0x8000080c, 0x80001604, 0x00010004, 0x0001d208, 0xffff0104,
                    0x80000a02, 0x80000b08, 0x12345678};
            b.writeShort(rnd.nextInt(10) == 0 ? rnd.nextInt(4) : 1).writeShort(0);
            for (int n = rnd.nextInt(6); n > 0; n--) {
                b.writeInt(headers[rnd.nextInt(headers.length)]);
                byte[] v = new byte[rnd.nextInt(17)];
                rnd.nextBytes(v);
                b.writeBytes(v);
            }
            int len = b.writerIndex();
            b.setShort(2, rnd.nextInt(4) == 0 ? lie(rnd, len) : len);
            b.writeZero(rnd.nextInt(10));
            byte[] out = new byte[b.readableBytes()];
            b.readBytes(out);
            return out;
        }
        byte[] flow = corpus.get(rnd.nextInt(corpus.size()));
        byte[] m = Arrays.copyOfRange(flow, EncodedFlow.OFS_MATCH, flow.length);
        switch (rnd.nextInt(4)) {
            case 0 -> m = Arrays.copyOf(m, rnd.nextInt(m.length + 1));
            case 1 -> m[rnd.nextInt(m.length)] ^= (byte) (1 << rnd.nextInt(8));
            case 2 -> setU16(m, 2, lie(rnd, u16(m, 2)));
            default -> m[4 + rnd.nextInt(Math.max(1, Math.min(m.length - 4, u16(m, 2))))] = (byte) rnd.nextInt(256);
        }
        return m;
    }

    @Test
    void matchDecodeOnMutatedAndArbitraryBytes() {
        long seed = 14_002;
        Random rnd = new Random(seed);
        List<byte[]> corpus = corpus();
        Tally tally = new Tally();
        long start = System.nanoTime();
        assertTimeoutPreemptively(HANG_GUARD, () -> {
            for (int i = 0; i < MATCH_TRIES; i++) {
                byte[] m = matchInput(rnd, corpus);
                String what = "seed " + seed + " try " + i;
                expectDecodedOrRefused(tally, what, m, bytes -> {
                    ByteBuf in = Unpooled.wrappedBuffer(bytes);
                    Match match = Match.decode(in, new ArrayList<>());
                    // consumed exactly the match and its padding, never past the input
                    int length = u16(bytes, 2);
                    assertEquals(length + (8 - length % 8) % 8, in.readerIndex(), what);
                    return match.toString() + "|" + match.entries().size();
                });
            }
        });
        tally.print("Match.decode", seed, MATCH_TRIES, start);
    }

    // ------------------------------------------------------------------ flow-stats replies

    /** A flow-stats reply part (OFPMP_FLOW) holding the given flows as entries, as Open vSwitch sends one. */
    static byte[] flowStatsPart(List<byte[]> flowMods, boolean more) {
        ByteBuf b = Unpooled.buffer();
        b.writeByte(4).writeByte(19).writeShort(0).writeInt(7).writeShort(1).writeShort(more ? 1 : 0).writeInt(0);
        for (byte[] f : flowMods) {
            int body = f.length - EncodedFlow.OFS_MATCH;
            b.writeShort(48 + body).writeByte(f[EncodedFlow.OFS_TABLE]).writeByte(0).writeInt(12).writeInt(500)
                    .writeShort(u16(f, EncodedFlow.OFS_PRIORITY)).writeShort(0).writeShort(0).writeShort(0).writeInt(0)
                    .writeBytes(f, EncodedFlow.OFS_COOKIE, 8).writeLong(3).writeLong(180)
                    .writeBytes(f, EncodedFlow.OFS_MATCH, body);
        }
        b.setShort(2, b.writerIndex());
        byte[] out = new byte[b.readableBytes()];
        b.readBytes(out);
        return out;
    }

    @Test
    void flowStatsRepliesRoundTripAndRefuseWhatIsMalformed() {
        List<byte[]> corpus = corpus();
        List<FlowStats> all = OfConnection.decodeFlowStats(List.of(Unpooled.wrappedBuffer(flowStatsPart(corpus, false))));
        assertEquals(FlowEncodingTest.cases().values().stream().toList(), all.stream().map(FlowStats::flow).toList());
        assertEquals(3, all.getFirst().packets());

        long seed = 14_003;
        Random rnd = new Random(seed);
        Tally tally = new Tally();
        long start = System.nanoTime();
        assertTimeoutPreemptively(HANG_GUARD, () -> {
            for (int i = 0; i < FLOW_STATS_TRIES; i++) {
                List<byte[]> flows = new ArrayList<>();
                for (int n = rnd.nextInt(4); n >= 0; n--) {
                    flows.add(corpus.get(rnd.nextInt(corpus.size())));
                }
                byte[] part = flowStatsPart(flows, false);
                // the entry lengths lie, or bytes of a flow inside are damaged, or the part is cut
                switch (rnd.nextInt(4)) {
                    case 0 -> setU16(part, 16, lie(rnd, u16(part, 16)));
                    case 1 -> part[16 + rnd.nextInt(part.length - 16)] ^= (byte) (1 << rnd.nextInt(8));
                    case 2 -> part = Arrays.copyOf(part, rnd.nextInt(part.length + 1));
                    default -> {
                        byte[] inner = mutateFlowMod(rnd, corpus);
                        if (inner.length > EncodedFlow.OFS_MATCH + 4) {
                            part = flowStatsPart(List.of(inner), false);
                        }
                    }
                }
                byte[] input = part;
                expectDecodedOrRefused(tally, "seed " + seed + " try " + i, input, bytes ->
                        OfConnection.decodeFlowStats(List.of(Unpooled.wrappedBuffer(bytes))).toString());
            }
        });
        tally.print("flow-stats reply", seed, FLOW_STATS_TRIES, start);

        byte[] zero = flowStatsPart(corpus.subList(0, 2), false);
        setU16(zero, 16, 0);
        assertEquals("malformed flow-stats entry at offset 16: length 0 (reply length " + zero.length + ")",
                assertThrows(OfException.class, () -> OfConnection.decodeFlowStats(List.of(Unpooled.wrappedBuffer(zero))))
                        .getMessage());
        byte[] trailing = Arrays.copyOf(flowStatsPart(corpus.subList(0, 1), false), 16 + 20); // an entry cut at 20 bytes
        assertTrue(assertThrows(OfException.class, () -> OfConnection.decodeFlowStats(List.of(Unpooled.wrappedBuffer(trailing))))
                .getMessage().contains("less than a 56-byte flow-stats entry"));
    }

    // ------------------------------------------------------------------ framing

    private static byte[] message(Random rnd) {
        byte[] body = new byte[rnd.nextInt(300)];
        rnd.nextBytes(body);
        ByteBuf b = Unpooled.buffer();
        int type = rnd.nextInt(30);
        b.writeByte(4).writeByte(type).writeShort(8 + body.length).writeInt(rnd.nextInt()).writeBytes(body);
        byte[] out = new byte[b.readableBytes()];
        b.readBytes(out);
        return out;
    }

    /**
     * Streams of messages cut at arbitrary points frame back into exactly those messages; a header whose length is
     * below 8 (0..7) anywhere in the stream ends it with an OfException naming that length, after the messages before
     * it, and nothing after it is framed. Nothing is ever held beyond one 64 KiB message.
     */
    @Test
    void framingOfSplitStreamsAndLyingLengths() {
        long seed = 14_004;
        Random rnd = new Random(seed);
        int streams = 0, refused = 0, frames = 0;
        long start = System.nanoTime();
        for (int i = 0; i < FRAMING_TRIES; i++) {
            List<byte[]> messages = new ArrayList<>();
            for (int n = 1 + rnd.nextInt(8); n > 0; n--) {
                messages.add(message(rnd));
            }
            int lieAt = rnd.nextInt(3) == 0 ? rnd.nextInt(messages.size()) : -1;
            int lie = rnd.nextInt(8);
            if (lieAt >= 0) {
                setU16(messages.get(lieAt), 2, lie);
            }
            ByteBuf all = Unpooled.buffer();
            messages.forEach(all::writeBytes);
            byte[] stream = new byte[all.readableBytes()];
            all.readBytes(stream);
            String what = "seed " + seed + " try " + i + ": " + messages.size() + " messages, length " + lie + " at " + lieAt;
            EmbeddedChannel ch = new EmbeddedChannel(new OfFrameDecoder());
            Throwable error = null;
            for (int at = 0; at < stream.length && error == null; ) {
                int end = Math.min(stream.length, at + 1 + rnd.nextInt(400));
                try {
                    ch.writeInbound(Unpooled.wrappedBuffer(Arrays.copyOfRange(stream, at, end)));
                } catch (DecoderException e) {
                    error = e.getCause();
                }
                at = end;
            }
            int expectedFrames = lieAt >= 0 ? lieAt : messages.size();
            for (int k = 0; k < expectedFrames; k++) {
                ByteBuf frame = ch.readInbound();
                byte[] got = frame == null ? null : new byte[frame.readableBytes()];
                if (frame != null) {
                    frame.readBytes(got);
                    frame.release();
                }
                assertArrayEquals(messages.get(k), got, what);
                frames++;
            }
            assertNull(ch.readInbound(), "nothing framed after the lie or left over: " + what);
            if (lieAt >= 0) {
                OfException e = assertInstanceOf(OfException.class, error, what);
                assertEquals("malformed OpenFlow header: length " + lie + " is less than the 8-byte header (version 4, type "
                        + (messages.get(lieAt)[1] & 0xff) + ")", e.getMessage(), what);
                refused++;
            } else {
                assertNull(error, what);
            }
            streams++;
            ch.finishAndReleaseAll();
        }
        System.out.printf("OfFrameDecoder: seed %d, %d streams: %d messages framed, %d streams refused at a length"
                + " below 8, %d ms%n", seed, streams, frames, refused, (System.nanoTime() - start) / 1_000_000);
        assertTrue(refused > FRAMING_TRIES / 10 && frames > FRAMING_TRIES, refused + " refused, " + frames + " frames");
    }

    @Test
    void theLargestLengthIsOneMessageNotAnAllocation() {
        EmbeddedChannel ch = new EmbeddedChannel(new OfFrameDecoder());
        ByteBuf b = Unpooled.buffer();
        b.writeByte(4).writeByte(19).writeShort(0xffff).writeInt(1);
        ch.writeInbound(b); // only the header: waits for the rest, holds 8 bytes
        assertNull(ch.readInbound());
        ch.writeInbound(Unpooled.wrappedBuffer(new byte[0xffff - 8]));
        ByteBuf frame = ch.readInbound();
        assertEquals(0xffff, frame.readableBytes());
        frame.release();
        ch.finishAndReleaseAll();
    }
}
