package dev.weft.agent.pipeline;

/**
 * Flow priorities within a table, by meaning (as Antrea's priorityHigh / Normal / Low / Miss): flows of one table
 * that could match the same packet differ in priority; everything else uses {@link #NORMAL}.
 */
public enum FlowPriority {
    /** Before everything else: established connections, invalid ones, the host's own traffic. */
    HIGH(210),
    NORMAL(200),
    /** Below the normal flows: ARP handed to NORMAL, conjunction actions, pods' classification. */
    LOW(190),
    /** The table-miss flow. */
    MISS(0);

    public final int value;

    FlowPriority(int value) {
        this.value = value;
    }
}
