package dev.weft.ipam;

import dev.weft.net.AddressFamily;
import dev.weft.net.IpAddress;
import dev.weft.net.IpPrefix;
import org.junit.jupiter.api.Test;

import java.math.BigInteger;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A pool cut into node blocks (the address types themselves are tested in the net module). */
class CidrPoolTest {

    /** Property: for random pools and block sizes, blocks tile the pool exactly and index arithmetic round-trips. */
    @Test
    void poolBlocksTileThePool() {
        Random rnd = new Random(11);
        for (int round = 0; round < 300; round++) {
            AddressFamily f = rnd.nextBoolean() ? AddressFamily.IPV4 : AddressFamily.IPV6;
            int prefix = f == AddressFamily.IPV4 ? 8 + rnd.nextInt(20) : 16 + rnd.nextInt(100);
            int mask = Math.min(f.bits(), prefix + rnd.nextInt(13));
            IpPrefix pool = IpPrefix.containing(IpAddress.of(f, new BigInteger(f.bits(), rnd)), prefix);
            CidrPool p = new CidrPool(pool, mask);
            assertEquals(1 << (mask - prefix), p.blockCount());
            assertEquals(pool.first(), p.block(0).first());
            assertEquals(pool.last(), p.block(p.blockCount() - 1).last());
            for (int k = 0; k < 20; k++) {
                int i = rnd.nextInt(p.blockCount());
                IpPrefix b = p.block(i);
                assertEquals(mask, b.prefixLength());
                assertTrue(pool.contains(b));
                assertEquals(i, p.indexOf(b.first()));
                assertEquals(i, p.indexOf(b.last()));
                if (i + 1 < p.blockCount()) {
                    assertEquals(b.last().toBigInteger().add(BigInteger.ONE), p.block(i + 1).first().toBigInteger(),
                            "adjacent, no gap");
                }
            }
            BigInteger after = pool.last().toBigInteger().add(BigInteger.ONE);
            if (after.bitLength() <= f.bits()) {
                assertEquals(-1, p.indexOf(IpAddress.of(f, after)), "first address after the pool");
            }
            if (pool.network().toBigInteger().signum() > 0) {
                assertEquals(-1, p.indexOf(IpAddress.of(f, pool.network().toBigInteger().subtract(BigInteger.ONE))),
                        "last address before it");
            }
        }
    }

    @Test
    void poolRejectsMaskShorterThanPoolOrTooManyBlocks() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new CidrPool(IpPrefix.parse("10.10.0.0/16"), 8));
        assertTrue(e.getMessage().contains("shorter than pool 10.10.0.0/16"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new CidrPool(IpPrefix.parse("fd00::/32"), 64));
        assertTrue(e.getMessage().contains("2^32 blocks"), e.getMessage());
    }
}
