package dev.weft.agent.pipeline;

import dev.weft.agent.openflow.EncodedFlow;
import dev.weft.agent.openflow.FlowMod;

import java.util.function.Consumer;

/**
 * Encoded flows indexed by their identity (table, priority, match bytes) without a key object per flow: an
 * open-addressing table of the flow_mod arrays themselves, hashed over the identity bytes in place
 * ({@link EncodedFlow#identityHash}; a HashMap with a key copy cost ~100 bytes a flow, as much as a flow). A
 * {@link FlowMod.FlowKey} looks up the same flow.
 */
final class FlowTable {

    private byte[][] slots = new byte[16][];
    private int size;

    int size() {
        return size;
    }

    byte[] get(FlowMod.FlowKey key) {
        int mask = slots.length - 1;
        for (int i = EncodedFlow.identityHash(key) & mask; slots[i] != null; i = (i + 1) & mask) {
            if (EncodedFlow.hasIdentity(slots[i], key)) {
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
        int i = EncodedFlow.identityHash(flow) & mask;
        for (; slots[i] != null; i = (i + 1) & mask) {
            if (EncodedFlow.sameIdentity(slots[i], flow)) {
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
        int mask = slots.length - 1;
        int i = EncodedFlow.identityHash(key) & mask;
        for (; slots[i] != null; i = (i + 1) & mask) {
            if (EncodedFlow.hasIdentity(slots[i], key)) {
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
}
