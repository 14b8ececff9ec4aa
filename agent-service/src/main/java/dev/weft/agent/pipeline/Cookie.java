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

    /**
     * What a flow belongs to. The codes are on the switches (in the cookies of installed flows, read back by a new
     * agent run and by weftctl): a category keeps its code forever, a new one takes an unused code.
     */
    public enum Category {
        UNKNOWN(0), PIPELINE(1), GATEWAY(2), POD(3), PEER_NODE(4), POLICY_RULE(5), POLICY_ISOLATION(6), SERVICE(7),
        SERVICE_ENDPOINT(8), TRACEFLOW(9),
        /** A logged NetworkPolicy's drop that sends the packet to the agent (the denied-connection log). */
        DENIED_LOG(10),
        /**
         * A flow Open vSwitch learned (Service session affinity), object id the Service port's index: never in the
         * flow store, deleted by cookie; the round is the run that installed the learning flow.
         */
        SERVICE_AFFINITY(11);

        private final int code;

        Category(int code) {
            this.code = code;
        }

        public int code() {
            return code;
        }

        public static Category of(int code) {
            for (Category c : values()) {
                if (c.code == code) {
                    return c;
                }
            }
            return UNKNOWN;
        }
    }

    public Cookie {
        if (round < 0 || round > 0xffff) {
            throw new IllegalArgumentException("round " + round + " out of 0..65535");
        }
        objectId &= OBJECT_MASK;
    }

    /** A cookie of a feature's flow: the datapath stamps its round when it installs the flow. */
    public static Cookie of(Category category, long objectId) {
        return new Cookie(0, category, objectId);
    }

    public long value() {
        return ((long) round << 48) | ((long) category.code() << 40) | objectId;
    }

    public static Cookie of(long value) {
        return new Cookie((int) (value >>> 48), categoryOf(value), value & OBJECT_MASK);
    }

    public static Category categoryOf(long value) {
        return Category.of((int) ((value & CATEGORY_MASK) >>> 40));
    }

    public static long roundBits(int round) {
        return (long) round << 48;
    }
}
