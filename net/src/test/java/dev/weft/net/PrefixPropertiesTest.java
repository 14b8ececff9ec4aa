package dev.weft.net;

import org.junit.jupiter.api.Test;

import java.math.BigInteger;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Properties over random addresses and prefixes (fixed seeds, so a failure reproduces), checked against
 * independent references: BigInteger arithmetic, enumeration of every address, and the JDK's own literal parser.
 */
class PrefixPropertiesTest {

    private static IpAddress randomAddress(Random rnd, AddressFamily f) {
        BigInteger v = new BigInteger(f.bits(), rnd);
        if (f == AddressFamily.IPV6 && rnd.nextInt(3) == 0) {
            // Runs of zero groups exercise "::".
            int from = rnd.nextInt(8);
            int len = 1 + rnd.nextInt(8 - from);
            v = v.andNot(BigInteger.ONE.shiftLeft(16 * len).subtract(BigInteger.ONE).shiftLeft(16 * (8 - from - len)));
        }
        return IpAddress.of(f, v);
    }

    private static AddressFamily randomFamily(Random rnd) {
        return rnd.nextBoolean() ? AddressFamily.IPV4 : AddressFamily.IPV6;
    }

    private static BigInteger hostMask(AddressFamily f, int length) {
        return BigInteger.ONE.shiftLeft(f.bits() - length).subtract(BigInteger.ONE);
    }

    @Test
    void addressesRoundTripThroughTextAndTheJdkReadsTheSameBytes() throws Exception {
        Random rnd = new Random(1);
        for (int i = 0; i < 20_000; i++) {
            AddressFamily f = randomFamily(rnd);
            IpAddress a = randomAddress(rnd, f);
            String text = a.toString();
            assertEquals(a, IpAddress.parse(text), text);
            InetAddress jdk = InetAddress.ofLiteral(text);
            // The JDK turns a mapped address into an Inet4Address; we keep the family the text says.
            assertArrayEquals(jdk instanceof Inet4Address ? a.unmapIpv4().bytes() : a.bytes(), jdk.getAddress(), text);
            assertEquals(a, IpAddress.ofBytes(a.bytes()), text);
            assertEquals(a, IpAddress.of(f, a.toBigInteger()), text);
            if (f == AddressFamily.IPV6) {
                assertEquals(a, IpAddress.parse(longForm(a, rnd)), "every spelling of " + text);
            }
        }
    }

    /** The same IPv6 address spelled out: eight groups, random leading zeros and case, maybe a dotted tail. */
    private static String longForm(IpAddress a, Random rnd) {
        byte[] b = a.bytes();
        StringBuilder sb = new StringBuilder();
        boolean dotted = rnd.nextInt(4) == 0;
        for (int g = 0; g < (dotted ? 6 : 8); g++) {
            String hex = Integer.toHexString((b[2 * g] & 0xff) << 8 | (b[2 * g + 1] & 0xff));
            hex = "0".repeat(rnd.nextInt(5 - hex.length())) + hex;
            sb.append(g == 0 ? "" : ":").append(rnd.nextBoolean() ? hex.toUpperCase() : hex);
        }
        if (dotted) {
            sb.append(':').append(b[12] & 0xff).append('.').append(b[13] & 0xff).append('.').append(b[14] & 0xff)
                    .append('.').append(b[15] & 0xff);
        }
        return sb.toString();
    }

    /** Mutated literals: whatever the strict parser accepts, the JDK accepts as the same address (never the reverse). */
    @Test
    void theStrictParserAcceptsOnlyWhatTheJdkReadsTheSameWay() {
        Random rnd = new Random(2);
        String alphabet = "0123456789abcdefABCDEFg.:%/ -";
        int accepted = 0;
        int rejected = 0;
        for (int i = 0; i < 50_000; i++) {
            StringBuilder s = new StringBuilder(randomAddress(rnd, randomFamily(rnd)).toString());
            for (int m = rnd.nextInt(3); m >= 0; m--) {
                int at = rnd.nextInt(s.length() + 1);
                char c = alphabet.charAt(rnd.nextInt(alphabet.length()));
                switch (rnd.nextInt(3)) {
                    case 0 -> s.insert(at, c);
                    case 1 -> { if (at < s.length()) s.deleteCharAt(at); }
                    default -> { if (at < s.length()) s.setCharAt(at, c); }
                }
            }
            String text = s.toString();
            var ours = IpAddress.tryParse(text);
            if (ours.isEmpty()) {
                rejected++;
                continue;
            }
            accepted++;
            IpAddress a = ours.get();
            InetAddress jdk = InetAddress.ofLiteral(text);
            assertArrayEquals(jdk instanceof Inet4Address ? a.unmapIpv4().bytes() : a.bytes(), jdk.getAddress(), text);
            if (a.family() == AddressFamily.IPV4) {
                assertEquals(text, a.toString(), "an IPv4 address has exactly one text form");
            }
        }
        assertTrue(accepted > 5_000 && rejected > 5_000, accepted + " accepted, " + rejected + " rejected");
    }

    @Test
    void containmentAgreesWithBitArithmetic() {
        Random rnd = new Random(3);
        for (int i = 0; i < 20_000; i++) {
            AddressFamily f = randomFamily(rnd);
            IpPrefix p = IpPrefix.containing(randomAddress(rnd, f), rnd.nextInt(f.bits() + 1));
            BigInteger mask = hostMask(f, p.prefixLength());
            assertEquals(BigInteger.ZERO, p.network().toBigInteger().and(mask), p.toString());
            assertEquals(p.network().toBigInteger().or(mask), p.last().toBigInteger(), p.toString());
            assertEquals(mask.add(BigInteger.ONE), p.size(), p.toString());
            // An address near the prefix: inside exactly when it shares the network bits.
            IpAddress a = rnd.nextBoolean() ? randomAddress(rnd, f)
                    : IpAddress.of(f, p.network().toBigInteger().xor(BigInteger.ONE.shiftLeft(rnd.nextInt(f.bits()))));
            assertEquals(a.toBigInteger().andNot(mask).equals(p.network().toBigInteger()), p.contains(a), a + " in " + p);
            assertFalse(p.contains(randomAddress(rnd, f == AddressFamily.IPV4 ? AddressFamily.IPV6 : AddressFamily.IPV4)),
                    "families never mix");
            IpPrefix q = IpPrefix.containing(rnd.nextBoolean() ? a : p.network(), rnd.nextInt(f.bits() + 1));
            boolean nested = q.prefixLength() >= p.prefixLength() && p.contains(q.network());
            assertEquals(nested, p.contains(q), q + " in " + p);
            assertEquals(p.contains(q) || q.contains(p), p.overlaps(q));
            assertEquals(p.overlaps(q), q.overlaps(p));
            assertEquals(p, IpPrefix.parse(p.toString()));
        }
    }

    /** Small IPv4 prefixes in 10.0.0.0/22, where every address can be enumerated. */
    @Test
    void containmentAndOverlapAgreeWithEnumeration() {
        Random rnd = new Random(4);
        IpPrefix universe = IpPrefix.parse("10.0.0.0/22");
        for (int i = 0; i < 3_000; i++) {
            IpPrefix p = randomInside(rnd, universe, 22);
            IpPrefix q = randomInside(rnd, universe, 22);
            boolean all = true;
            boolean any = false;
            for (long k = 0; k < q.size().longValue(); k++) {
                boolean in = p.contains(q.address(k));
                all &= in;
                any |= in;
            }
            assertEquals(all, p.contains(q), q + " in " + p);
            assertEquals(any, p.overlaps(q), q + " overlaps " + p);
        }
    }

    private static IpPrefix randomInside(Random rnd, IpPrefix universe, int shortest) {
        int length = shortest + rnd.nextInt(universe.family().bits() - shortest + 1);
        return IpPrefix.containing(universe.address(new BigInteger(universe.hostBits(), rnd)), length);
    }

    @Test
    void subtractionCoversExactlyTheDifferenceWithTheFewestBlocks() {
        Random rnd = new Random(5);
        // 1024 addresses each (enumerated) in IPv4 and IPv6, and a large IPv6 block whose halving crosses from one
        // long of the value to the other.
        List<IpPrefix> universes = List.of(IpPrefix.parse("10.0.0.0/22"), IpPrefix.parse("fd00:0:0:1::/118"),
                IpPrefix.parse("fd00::/52"));
        for (int round = 0; round < 1_500; round++) {
            IpPrefix universe = universes.get(rnd.nextInt(universes.size()));
            IpPrefix p = randomInside(rnd, universe, universe.prefixLength());
            List<IpPrefix> except = new ArrayList<>();
            for (int e = rnd.nextInt(7); e > 0; e--) {
                except.add(rnd.nextInt(4) == 0 ? randomInside(rnd, universe, universe.prefixLength())
                        : randomInside(rnd, p, p.prefixLength()));
            }
            if (rnd.nextInt(10) == 0) {
                except.add(IpPrefix.parse(universe.family() == AddressFamily.IPV4 ? "fd00::/8" : "10.0.0.0/8"));
            }
            List<IpPrefix> out = p.subtract(except);
            String what = p + " - " + except + " = " + out;
            for (int i = 0; i < out.size(); i++) {
                IpPrefix b = out.get(i);
                assertTrue(p.contains(b), what);
                assertTrue(except.stream().noneMatch(b::overlaps), what);
                if (i > 0) {
                    assertTrue(out.get(i - 1).last().compareTo(b.first()) < 0, "disjoint and in order: " + what);
                }
                if (b.prefixLength() > p.prefixLength()) {
                    IpPrefix parent = IpPrefix.containing(b.network(), b.prefixLength() - 1);
                    assertTrue(except.stream().anyMatch(parent::overlaps), "not the largest block possible: " + b + " in " + what);
                }
            }
            if (universe.hostBits() <= 10) {
                for (long k = 0; k < universe.size().longValue(); k++) {
                    IpAddress a = universe.address(k);
                    boolean expected = p.contains(a) && except.stream().noneMatch(x -> x.contains(a));
                    assertEquals(expected, out.stream().anyMatch(b -> b.contains(a)), a + ": " + what);
                }
            }
            // Blocks nest or are disjoint, so the excluded part of p is p itself or the outermost exclusions in it.
            BigInteger removed = except.stream().anyMatch(x -> x.contains(p)) ? p.size()
                    : except.stream().filter(p::contains)
                    .filter(x -> except.stream().noneMatch(y -> !y.equals(x) && y.contains(x)))
                    .distinct().map(IpPrefix::size).reduce(BigInteger.ZERO, BigInteger::add);
            BigInteger covered = out.stream().map(IpPrefix::size).reduce(BigInteger.ZERO, BigInteger::add);
            assertEquals(p.size().subtract(removed), covered, what);
        }
    }

    @Test
    void subtractionAtTheEdgesOfTheAddressSpace() {
        assertEquals(128, IpPrefix.parse("::/0").subtract(List.of(IpPrefix.parse("::1/128"))).size());
        assertEquals(List.of(IpPrefix.parse("0.0.0.0/5"), IpPrefix.parse("8.0.0.0/7"), IpPrefix.parse("11.0.0.0/8"),
                        IpPrefix.parse("12.0.0.0/6"), IpPrefix.parse("16.0.0.0/4"), IpPrefix.parse("32.0.0.0/3"),
                        IpPrefix.parse("64.0.0.0/2"), IpPrefix.parse("128.0.0.0/1")),
                IpPrefix.parse("0.0.0.0/0").subtract(List.of(IpPrefix.parse("10.0.0.0/8"))));
        assertEquals(List.of(), IpPrefix.parse("10.0.0.0/24").subtract(List.of(IpPrefix.parse("10.0.0.0/16"))));
        assertEquals(List.of(IpPrefix.parse("10.0.0.0/25")),
                IpPrefix.parse("10.0.0.0/24").subtract(List.of(IpPrefix.parse("10.0.0.128/25"))));
        assertEquals(List.of(IpPrefix.parse("10.0.0.0/24")),
                IpPrefix.parse("10.0.0.0/24").subtract(List.of(IpPrefix.parse("fd00::/8"), IpPrefix.parse("10.0.1.0/24"))));
        assertEquals(List.of(IpPrefix.parse("255.255.255.254/32")),
                IpPrefix.parse("255.255.255.254/31").subtract(List.of(IpPrefix.parse("255.255.255.255/32"))));
    }

    @Test
    void splitTilesThePrefixAndSubnetIndexInvertsIt() {
        Random rnd = new Random(6);
        for (int round = 0; round < 2_000; round++) {
            AddressFamily f = randomFamily(rnd);
            // IPv6 lengths around 64 put the subnet bits across the two longs.
            int length = f == AddressFamily.IPV4 ? rnd.nextInt(33) : rnd.nextInt(3) == 0 ? 54 + rnd.nextInt(12) : rnd.nextInt(129);
            IpPrefix p = IpPrefix.containing(randomAddress(rnd, f), length);
            int sub = Math.min(f.bits(), length + rnd.nextInt(9));
            List<IpPrefix> blocks = p.split(sub);
            assertEquals(1 << (sub - length), blocks.size(), p + " into /" + sub);
            assertEquals(p.first(), blocks.getFirst().first());
            assertEquals(p.last(), blocks.getLast().last());
            BigInteger step = BigInteger.ONE.shiftLeft(f.bits() - sub);
            for (int i = 0; i < blocks.size(); i++) {
                IpPrefix b = blocks.get(i);
                assertEquals(sub, b.prefixLength());
                assertTrue(p.contains(b));
                assertEquals(p.network().toBigInteger().add(step.multiply(BigInteger.valueOf(i))), b.network().toBigInteger());
                assertEquals(i, p.subnetIndex(b.first(), sub), b + " in " + p);
                assertEquals(i, p.subnetIndex(b.last(), sub), b + " in " + p);
                if (i > 0) {
                    assertEquals(blocks.get(i - 1).last().toBigInteger().add(BigInteger.ONE), b.first().toBigInteger(), "no gap");
                }
            }
            int far = Math.min(f.bits(), length + rnd.nextInt(40));
            if (far - length < 63) {
                long index = rnd.nextLong(1L << (far - length));
                IpPrefix s = p.subnet(far, index);
                assertEquals(p.network().toBigInteger().add(BigInteger.valueOf(index).shiftLeft(f.bits() - far)),
                        s.network().toBigInteger(), p + " subnet /" + far + " #" + index);
                assertEquals(index, p.subnetIndex(s.last(), far));
            }
        }
    }

    @Test
    void nthAddress() {
        Random rnd = new Random(7);
        for (int round = 0; round < 10_000; round++) {
            AddressFamily f = randomFamily(rnd);
            IpPrefix p = IpPrefix.containing(randomAddress(rnd, f), rnd.nextInt(f.bits() + 1));
            BigInteger index = new BigInteger(p.hostBits(), rnd);
            IpAddress a = p.address(index);
            assertEquals(p.network().toBigInteger().add(index), a.toBigInteger());
            assertTrue(p.contains(a));
            if (index.bitLength() < 63) {
                assertEquals(a, p.address(index.longValue()));
            }
            assertEquals(p.last(), p.address(p.size().subtract(BigInteger.ONE)));
            assertThrows(IndexOutOfBoundsException.class, () -> p.address(p.size()));
            if (p.hostBits() < 63) {
                assertThrows(IndexOutOfBoundsException.class, () -> p.address(p.size().longValue()));
            }
        }
        assertThrows(IndexOutOfBoundsException.class, () -> IpPrefix.parse("10.0.0.0/24").address(-1));
        assertEquals("10.0.0.255", IpPrefix.parse("10.0.0.0/24").address(255).toString());
    }

    @Test
    void misuseIsRefusedWithAReason() {
        IpPrefix p = IpPrefix.parse("10.0.0.0/16");
        assertEquals("/8 blocks do not fit in 10.0.0.0/16: the length must be 16-32",
                assertThrows(IllegalArgumentException.class, () -> p.split(8)).getMessage());
        assertEquals("splitting 10.0.0.0/8 into /32 blocks gives 2^24 of them; at most 2^16 (use subnet(length, index))",
                assertThrows(IllegalArgumentException.class, () -> IpPrefix.parse("10.0.0.0/8").split(32)).getMessage());
        assertEquals("10.1.0.1 is not in 10.0.0.0/16",
                assertThrows(IllegalArgumentException.class, () -> p.subnetIndex(IpAddress.parse("10.1.0.1"), 24)).getMessage());
        assertThrows(IndexOutOfBoundsException.class, () -> p.subnet(24, 256));
        assertEquals("10.0.255.0/24", p.subnet(24, 255).toString());
    }
}
