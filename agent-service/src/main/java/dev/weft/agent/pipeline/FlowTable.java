package dev.weft.agent.pipeline;

import dev.weft.agent.openflow.FlowMod;

import java.util.function.Consumer;

/**
 * Encoded flows indexed by their identity (table, priority, match bytes) without a key object per flow: an
 * open-addressing table of the flow_mod arrays themselves, hashed over the identity bytes in place (a HashMap with a
 * key copy cost ~100 bytes a flow, as much as a flow). A {@link FlowMod.FlowKey} looks up the same flow.
 */
final class FlowTable {

    private static final int OFS_TABLE = 24, OFS_PRIORITY = 30, OFS_MATCH = 48;

    private byte[][] slots = new byte[16][];
    private int size;

    int size() {
        return size;
    }

    byte[] get(FlowMod.FlowKey key) {
        byte[] k = key.bytes();
        int mask = slots.length - 1;
        for (int i = hashOfKey(k) & mask; slots[i] != null; i = (i + 1) & mask) {
            if (sameKey(slots[i], k)) {
                return slots[i];
            }
        }
        return null;
    }

    /** Adds or replaces the flow with the same identity; returns the replaced one. */
    byte[] put(byte[] flow) {
        if ((size + 1) * 2 > slots.length) {
            resize(slots.length * 2);
        }
        int mask = slots.length - 1;
        int i = hashOfFlow(flow) & mask;
        for (; slots[i] != null; i = (i + 1) & mask) {
            if (sameFlowKey(slots[i], flow)) {
                byte[] prev = slots[i];
                slots[i] = flow;
                return prev;
            }
        }
        slots[i] = flow;
        size++;
        return null;
    }

    byte[] remove(FlowMod.FlowKey key) {
        byte[] k = key.bytes();
        int mask = slots.length - 1;
        int i = hashOfKey(k) & mask;
        for (; slots[i] != null; i = (i + 1) & mask) {
            if (sameKey(slots[i], k)) {
                break;
            }
        }
        byte[] prev = slots[i];
        if (prev == null) {
            return null;
        }
        slots[i] = null;
        size--;
        // re-insert the rest of the cluster (linear probing deletion)
        for (int j = (i + 1) & mask; slots[j] != null; j = (j + 1) & mask) {
            byte[] f = slots[j];
            slots[j] = null;
            size--;
            put(f);
        }
        if (slots.length > 16 && size * 8 < slots.length) {
            resize(slots.length / 2);
        }
        return prev;
    }

    void forEach(Consumer<byte[]> action) {
        for (byte[] f : slots) {
            if (f != null) {
                action.accept(f);
            }
        }
    }

    byte[][] toArray() {
        byte[][] out = new byte[size][];
        int n = 0;
        for (byte[] f : slots) {
            if (f != null) {
                out[n++] = f;
            }
        }
        return out;
    }

    private void resize(int capacity) {
        byte[][] old = slots;
        slots = new byte[capacity][];
        size = 0;
        for (byte[] f : old) {
            if (f != null) {
                put(f);
            }
        }
    }

    private static int matchLen(byte[] flow) {
        return ((flow[OFS_MATCH + 2] & 0xff) << 8) | (flow[OFS_MATCH + 3] & 0xff);
    }

    /** Same as {@link #hashOfKey} over the flow's identity bytes (FlowKey layout: table, priority, match). */
    private static int hashOfFlow(byte[] flow) {
        int h = 1;
        h = 31 * h + flow[OFS_TABLE];
        h = 31 * h + flow[OFS_PRIORITY];
        h = 31 * h + flow[OFS_PRIORITY + 1];
        int n = matchLen(flow);
        for (int i = 0; i < n; i++) {
            h = 31 * h + flow[OFS_MATCH + i];
        }
        return spread(h);
    }

    private static int hashOfKey(byte[] k) {
        int h = 1;
        for (byte b : k) {
            h = 31 * h + b;
        }
        return spread(h);
    }

    private static int spread(int h) {
        return h ^ (h >>> 16);
    }

    private static boolean sameKey(byte[] flow, byte[] k) {
        int n = matchLen(flow);
        if (k.length != 3 + n || flow[OFS_TABLE] != k[0] || flow[OFS_PRIORITY] != k[1] || flow[OFS_PRIORITY + 1] != k[2]) {
            return false;
        }
        return java.util.Arrays.equals(flow, OFS_MATCH, OFS_MATCH + n, k, 3, 3 + n);
    }

    private static boolean sameFlowKey(byte[] a, byte[] b) {
        int n = matchLen(a);
        if (matchLen(b) != n || a[OFS_TABLE] != b[OFS_TABLE] || a[OFS_PRIORITY] != b[OFS_PRIORITY]
                || a[OFS_PRIORITY + 1] != b[OFS_PRIORITY + 1]) {
            return false;
        }
        return java.util.Arrays.equals(a, OFS_MATCH, OFS_MATCH + n, b, OFS_MATCH, OFS_MATCH + n);
    }
}
