package dev.weft.agent.pipeline;

/**
 * Flow cookie: {@code [round:16][category:8][object id:40]}. The round tells flows of this agent run from those of a
 * previous one (deleted once the new run has installed everything); category and object say which feature and which
 * object (pod OF port, policy rule, peer node) a flow belongs to, for the CLI and for targeted deletes.
 */
public record Cookie(int round, Category category, long objectId) {

    public static final long ROUND_MASK = 0xffffL << 48;
    public static final long CATEGORY_MASK = 0xffL << 40;
    public static final long OBJECT_MASK = (1L << 40) - 1;

    public enum Category {
        UNKNOWN, PIPELINE, GATEWAY, POD, PEER_NODE, POLICY_RULE, POLICY_ISOLATION;

        public int code() {
            return ordinal();
        }

        public static Category of(int code) {
            return code >= 0 && code < values().length ? values()[code] : UNKNOWN;
        }
    }

    public Cookie {
        if (round < 0 || round > 0xffff) {
            throw new IllegalArgumentException("round " + round + " out of 0..65535");
        }
        objectId &= OBJECT_MASK;
    }

    public long value() {
        return ((long) round << 48) | ((long) category.code() << 40) | objectId;
    }

    public static Cookie of(long value) {
        return new Cookie((int) (value >>> 48), Category.of((int) ((value >>> 40) & 0xff)), value & OBJECT_MASK);
    }

    public static long roundBits(int round) {
        return (long) round << 48;
    }
}
