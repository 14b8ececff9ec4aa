package dev.weft.policy.core;

import java.nio.charset.StandardCharsets;

/**
 * The normalised selection of a group of pods: either pods matching {@code podSelector} in one {@code namespace}, or
 * pods matching {@code podSelector} in every namespace matching {@code namespaceSelector} (then namespace is null).
 * Policies with equal keys share one group.
 */
public record GroupKey(String namespace, Selector namespaceSelector, Selector podSelector) {

    public GroupKey {
        if ((namespace == null) == (namespaceSelector == null)) {
            throw new IllegalArgumentException("exactly one of namespace and namespaceSelector");
        }
    }

    public static GroupKey inNamespace(String namespace, Selector podSelector) {
        return new GroupKey(namespace, null, podSelector);
    }

    public static GroupKey acrossNamespaces(Selector namespaceSelector, Selector podSelector) {
        return new GroupKey(null, namespaceSelector, podSelector);
    }

    public boolean clusterScoped() {
        return namespace == null;
    }

    public String canonical() {
        return namespace != null
                ? "ns=" + namespace + "|pods=" + podSelector.canonical()
                : "nsSelector=" + namespaceSelector.canonical() + "|pods=" + podSelector.canonical();
    }

    /**
     * Deterministic name: 128 bits of two seeded 64-bit FNV-1a style hashes of the canonical form, so that a
     * restarted service names every group as before (agents keep their flows across a re-sync).
     */
    public String hashName() {
        byte[] b = canonical().getBytes(StandardCharsets.UTF_8);
        return "g" + hex(hash(b, 0xcbf29ce484222325L)) + hex(hash(b, 0x84222325cbf29ce4L ^ 0x9e3779b97f4a7c15L));
    }

    private static long hash(byte[] b, long seed) {
        long h = seed;
        for (byte x : b) {
            h ^= (x & 0xff);
            h *= 0x100000001b3L;
        }
        // Final avalanche (murmur3 fmix64) so that similar inputs differ in every digit.
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        h *= 0xc4ceb9fe1a85ec53L;
        h ^= h >>> 33;
        return h;
    }

    private static String hex(long v) {
        String s = Long.toHexString(v);
        return "0".repeat(16 - s.length()) + s;
    }

    @Override
    public String toString() {
        return canonical();
    }
}
