package dev.weft.ipam;

import dev.weft.net.AddressFamily;
import dev.weft.net.IpAddress;
import dev.weft.net.IpPrefix;

import java.util.Objects;

/**
 * A cluster CIDR cut into equal node blocks of {@code /blockPrefix}: block {@code i} is the i-th block from the
 * start of the pool. The arithmetic between addresses and block indexes is what lets the allocator keep one bit per
 * block (a /8 in /24s is 65,536 bits, a /48 in /64s too) instead of scanning blocks.
 */
public record CidrPool(IpPrefix cidr, int blockPrefix) {

    /**
     * At most 2^24 blocks per pool: a 2 MiB bitmap. Kubernetes' own node IPAM stops at 2^16; a pool that would
     * need more is almost always a wrong mask size.
     */
    public static final int MAX_BLOCK_BITS = 24;

    public CidrPool {
        Objects.requireNonNull(cidr, "cidr");
        if (blockPrefix < cidr.prefixLength()) {
            throw new IllegalArgumentException("node mask /" + blockPrefix + " is shorter than pool " + cidr
                    + ": a node block cannot be larger than its pool");
        }
        if (blockPrefix > cidr.family().bits()) {
            throw new IllegalArgumentException("node mask /" + blockPrefix + " is out of range for " + cidr.family());
        }
        if (blockPrefix - cidr.prefixLength() > MAX_BLOCK_BITS) {
            throw new IllegalArgumentException("pool " + cidr + " split into /" + blockPrefix + " blocks gives 2^"
                    + (blockPrefix - cidr.prefixLength()) + " blocks; at most 2^" + MAX_BLOCK_BITS
                    + " per pool: use a larger node mask or a smaller pool");
        }
    }

    public AddressFamily family() {
        return cidr.family();
    }

    public int blockCount() {
        return 1 << (blockPrefix - cidr.prefixLength());
    }

    /** The i-th block. */
    public IpPrefix block(int index) {
        Objects.checkIndex(index, blockCount());
        return cidr.subnet(blockPrefix, index);
    }

    /** Index of the block containing the address, or -1 if the address is outside the pool. */
    public int indexOf(IpAddress address) {
        if (!cidr.contains(address)) {
            return -1;
        }
        return (int) cidr.subnetIndex(address, blockPrefix);
    }

    /**
     * Indexes [first, last] of the blocks that a CIDR inside the pool touches: one block for a CIDR no larger than a
     * block, several for a larger one (as Kubernetes does when a Node carries a bigger CIDR than the mask size).
     * Returns null if the CIDR is not entirely inside the pool.
     */
    public int[] blockRange(IpPrefix c) {
        if (!cidr.contains(c)) {
            return null;
        }
        return new int[] {indexOf(c.first()), indexOf(c.last())};
    }

    /** Indexes [first, last] of the blocks that overlap a CIDR, or null if it does not overlap the pool. */
    public int[] overlapRange(IpPrefix c) {
        if (cidr.contains(c)) {
            return blockRange(c);
        }
        if (c.contains(cidr)) {
            return new int[] {0, blockCount() - 1};
        }
        return null;
    }

    @Override
    public String toString() {
        return cidr + " in /" + blockPrefix + " blocks";
    }
}
