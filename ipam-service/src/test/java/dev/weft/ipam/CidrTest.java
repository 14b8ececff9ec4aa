package dev.weft.ipam;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.math.BigInteger;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CidrTest {

    @ParameterizedTest
    @CsvSource({
            "10.10.1.0/24, 10.10.1.0/24",
            "0.0.0.0/0, 0.0.0.0/0",
            "255.255.255.255/32, 255.255.255.255/32",
            "fd00:10:244:1::/64, fd00:10:244:1::/64",
            "FD00:0010:0000:0000:0000:0000:0000:0000/48, fd00:10::/48",
            "::/0, ::/0",
            "2001:db8:0:0:1:0:0:1/128, 2001:db8::1:0:0:1/128",
            "2001:0:0:1:0:0:0:1/128, 2001:0:0:1::1/128",
            "0:0:0:0:0:0:0:1/128, ::1/128",
            "1:0:0:0:0:0:0:0/16, 1::/16",
            "1:2:3:4:5:6:7:8/128, 1:2:3:4:5:6:7:8/128",
            "1:0:2:3:4:5:6:7/128, 1:0:2:3:4:5:6:7/128",
            "::ffff:10.0.0.0/120, ::ffff:a00:0/120",
    })
    void parsesToCanonicalText(String input, String canonical) {
        Cidr c = Cidr.parse(input);
        assertEquals(canonical, c.toString());
        assertEquals(c, Cidr.parse(c.toString()), "canonical text parses back to the same CIDR");
    }

    @Test
    void hostBitsSetIsAnErrorThatSuggestsTheNetwork() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Cidr.parse("10.10.1.7/24"));
        assertTrue(e.getMessage().contains("host bits set"), e.getMessage());
        assertTrue(e.getMessage().contains("did you mean 10.10.1.0/24"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Cidr.parse("fd00:10::1/64"));
        assertTrue(e.getMessage().contains("did you mean fd00:10::/64"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"10.0.0.0", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "/24", "abc/8", "1.2.3/24",
            "256.0.0.0/8", "10.0.0.0/24/1", "fe80::1%eth0/128", "fd00::/129", "10.0.0.0/2a", "example.com/24", " ",
            "10.0.0.0/0024"})
    void rejectsMalformedInputWithItsText(String input) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Cidr.parse(input));
        assertFalse(e.getMessage().isBlank());
        if (!input.isBlank()) {
            assertTrue(e.getMessage().contains(input.strip()) || e.getMessage().contains("host bits"), e.getMessage());
        }
    }

    @Test
    void containsAndOverlaps() {
        Cidr pool = Cidr.parse("10.10.0.0/16");
        assertTrue(pool.contains(Cidr.parse("10.10.255.0/24")));
        assertTrue(pool.contains(pool));
        assertFalse(pool.contains(Cidr.parse("10.11.0.0/24")));
        assertFalse(pool.contains(Cidr.parse("10.0.0.0/8")));
        assertTrue(pool.overlaps(Cidr.parse("10.0.0.0/8")));
        assertFalse(pool.overlaps(Cidr.parse("fd00::/8")), "families never overlap");
        assertTrue(pool.contains(IpAddress.parse("10.10.3.4")));
        assertFalse(pool.contains(IpAddress.parse("10.9.255.255")));
        assertEquals("10.10.255.255", pool.last().toString());
        assertEquals(BigInteger.valueOf(65536), pool.size());
        assertEquals("fd00:10::ffff:ffff:ffff:ffff", Cidr.parse("fd00:10::/64").last().toString());
    }

    @Test
    void randomAddressesRoundTripThroughText() {
        Random rnd = new Random(7);
        for (int i = 0; i < 5_000; i++) {
            Family f = rnd.nextBoolean() ? Family.IPV4 : Family.IPV6;
            BigInteger v = new BigInteger(f.bits(), rnd);
            if (rnd.nextInt(4) == 0) {
                // Zero runs exercise the "::" compression rules.
                v = v.andNot(BigInteger.ONE.shiftLeft(16 * (1 + rnd.nextInt(4))).subtract(BigInteger.ONE)
                        .shiftLeft(16 * rnd.nextInt(4)));
            }
            IpAddress a = new IpAddress(f, v);
            assertEquals(a, IpAddress.parse(a.toString()), a.toString());
            int prefix = rnd.nextInt(f.bits() + 1);
            Cidr c = Cidr.of(a, prefix);
            assertTrue(c.contains(a));
            assertEquals(c, Cidr.parse(c.toString()));
        }
    }

    /** Property: for random pools and block sizes, blocks tile the pool exactly and index arithmetic round-trips. */
    @Test
    void poolBlocksTileThePool() {
        Random rnd = new Random(11);
        for (int round = 0; round < 300; round++) {
            Family f = rnd.nextBoolean() ? Family.IPV4 : Family.IPV6;
            int prefix = f == Family.IPV4 ? 8 + rnd.nextInt(20) : 16 + rnd.nextInt(100);
            int mask = Math.min(f.bits(), prefix + rnd.nextInt(13));
            Cidr pool = Cidr.of(new IpAddress(f, new BigInteger(f.bits(), rnd)), prefix);
            CidrPool p = new CidrPool(pool, mask);
            assertEquals(1 << (mask - prefix), p.blockCount());
            assertEquals(pool.first(), p.block(0).first());
            assertEquals(pool.last(), p.block(p.blockCount() - 1).last());
            for (int k = 0; k < 20; k++) {
                int i = rnd.nextInt(p.blockCount());
                Cidr b = p.block(i);
                assertEquals(mask, b.prefixLength());
                assertTrue(pool.contains(b));
                assertEquals(i, p.indexOf(b.first()));
                assertEquals(i, p.indexOf(b.last()));
                if (i + 1 < p.blockCount()) {
                    assertEquals(b.last().value().add(BigInteger.ONE), p.block(i + 1).first().value(), "adjacent, no gap");
                }
            }
            BigInteger after = pool.lastValue().add(BigInteger.ONE);
            if (after.bitLength() <= f.bits()) {
                assertEquals(-1, p.indexOf(new IpAddress(f, after)), "first address after the pool");
            }
            if (pool.network().signum() > 0) {
                assertEquals(-1, p.indexOf(new IpAddress(f, pool.network().subtract(BigInteger.ONE))), "last address before it");
            }
        }
    }

    @Test
    void poolRejectsMaskShorterThanPoolOrTooManyBlocks() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new CidrPool(Cidr.parse("10.10.0.0/16"), 8));
        assertTrue(e.getMessage().contains("shorter than pool 10.10.0.0/16"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new CidrPool(Cidr.parse("fd00::/32"), 64));
        assertTrue(e.getMessage().contains("2^32 blocks"), e.getMessage());
    }
}
