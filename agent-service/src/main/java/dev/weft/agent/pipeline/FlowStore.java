package dev.weft.agent.pipeline;

import dev.weft.agent.openflow.EncodedFlow;
import dev.weft.agent.openflow.FlowMod;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The flows the agent wants on the bridge, per owner (a feature's object: a pod, a peer node, the policy set), kept
 * only in their encoded wire form (~100-200 bytes a flow, no flow objects): what is needed to compute deltas and to
 * replay everything after Open vSwitch restarts. Not thread-safe: the datapath serializes its updates.
 */
public final class FlowStore {

    private final Map<Long, byte[][]> byOwner = new LinkedHashMap<>();
    /** Owners changed flow by flow (the policy flows): indexed by flow key so a change costs its size, not the owner's. */
    private final Map<Long, FlowTable> keyed = new LinkedHashMap<>();
    private long count;
    private static final FlowTable EMPTY = new FlowTable();

    public static long owner(Cookie.Category category, long objectId) {
        return ((long) category.code() << 40) | (objectId & Cookie.OBJECT_MASK);
    }

    /** What to send to turn an owner's installed flows into {@code desired}: deletes of vanished flows, then adds. */
    public record Delta(List<byte[]> messages, byte[][] desired, int adds, int deletes) {
        public boolean isEmpty() {
            return messages.isEmpty();
        }
    }

    public Delta diff(long owner, List<FlowMod> desired) {
        byte[][] next = new byte[desired.size()][];
        for (int i = 0; i < next.length; i++) {
            next[i] = desired.get(i).encode();
        }
        return diffEncoded(owner, next);
    }

    public Delta diffEncoded(long owner, byte[][] next) {
        byte[][] old = byOwner.getOrDefault(owner, new byte[0][]);
        Map<FlowMod.FlowKey, byte[]> oldByKey = new HashMap<>(old.length * 2);
        for (byte[] m : old) {
            oldByKey.put(EncodedFlow.of(m).key(), m);
        }
        List<byte[]> deletes = new ArrayList<>();
        List<byte[]> adds = new ArrayList<>();
        Map<FlowMod.FlowKey, byte[]> nextByKey = new HashMap<>(next.length * 2);
        for (byte[] m : next) {
            EncodedFlow f = EncodedFlow.of(m);
            FlowMod.FlowKey k = f.key();
            if (nextByKey.put(k, m) != null) {
                throw new IllegalArgumentException("two flows with the same table, priority and match: " + f.describe());
            }
            byte[] prev = oldByKey.get(k);
            if (prev == null || !Arrays.equals(prev, m)) {
                adds.add(m); // an ADD over an existing flow replaces its actions and cookie in place
            }
        }
        for (Map.Entry<FlowMod.FlowKey, byte[]> e : oldByKey.entrySet()) {
            if (!nextByKey.containsKey(e.getKey())) {
                deletes.add(EncodedFlow.of(e.getValue()).deleteStrict());
            }
        }
        List<byte[]> messages = new ArrayList<>(deletes.size() + adds.size());
        messages.addAll(deletes);
        messages.addAll(adds);
        return new Delta(messages, next, adds.size(), deletes.size());
    }

    /** The installed flow of a keyed owner with this key, or null. */
    public byte[] installed(long owner, FlowMod.FlowKey key) {
        FlowTable flows = keyed.get(owner);
        return flows == null ? null : flows.get(key);
    }

    /** What to send for a keyed owner's changes ({@code null} value: the flow goes): deletes first, then adds. */
    public record Patch(List<byte[]> messages, Map<FlowMod.FlowKey, byte[]> changes, int adds, int deletes) {
        public boolean isEmpty() {
            return messages.isEmpty();
        }
    }

    public Patch patch(long owner, Map<FlowMod.FlowKey, byte[]> changes) {
        if (byOwner.containsKey(owner)) {
            throw new IllegalArgumentException("owner " + Long.toHexString(owner) + " is stored whole, not by key");
        }
        FlowTable flows = keyed.getOrDefault(owner, EMPTY);
        List<byte[]> deletes = new ArrayList<>();
        List<byte[]> adds = new ArrayList<>();
        for (Map.Entry<FlowMod.FlowKey, byte[]> e : changes.entrySet()) {
            byte[] prev = flows.get(e.getKey());
            byte[] next = e.getValue();
            if (next == null) {
                if (prev != null) {
                    deletes.add(EncodedFlow.of(prev).deleteStrict());
                }
            } else if (prev == null || !Arrays.equals(prev, next)) {
                adds.add(next);
            }
        }
        List<byte[]> messages = new ArrayList<>(deletes.size() + adds.size());
        messages.addAll(deletes);
        messages.addAll(adds);
        return new Patch(messages, changes, adds.size(), deletes.size());
    }

    /** Records that a patch is on the switch. */
    public void commit(long owner, Patch patch) {
        FlowTable flows = keyed.computeIfAbsent(owner, o -> new FlowTable());
        patch.changes().forEach((k, v) -> {
            byte[] prev = v == null ? flows.remove(k) : flows.put(v);
            count += (v == null ? 0 : 1) - (prev == null ? 0 : 1);
        });
        if (flows.size() == 0) {
            keyed.remove(owner);
        }
    }

    /** Records that a delta is on the switch. */
    public void commit(long owner, Delta delta) {
        if (keyed.containsKey(owner)) {
            throw new IllegalArgumentException("owner " + Long.toHexString(owner) + " is stored by key, not whole");
        }
        byte[][] prev = delta.desired().length == 0 ? byOwner.remove(owner) : byOwner.put(owner, delta.desired());
        count += delta.desired().length - (prev == null ? 0 : prev.length);
    }

    public void forEach(Consumer<byte[]> action) {
        for (byte[][] flows : byOwner.values()) {
            for (byte[] f : flows) {
                action.accept(f);
            }
        }
        for (FlowTable flows : keyed.values()) {
            flows.forEach(action);
        }
    }

    public byte[][] flowsOf(long owner) {
        FlowTable flows = keyed.get(owner);
        if (flows != null) {
            return flows.toArray();
        }
        return byOwner.getOrDefault(owner, new byte[0][]);
    }

    public long count() {
        return count;
    }

    /** Rewrites every stored flow's cookie round (the stored bytes are what is replayed). */
    public void setRound(int round) {
        long bits = Cookie.roundBits(round);
        forEach(m -> EncodedFlow.of(m).setCookieBits(bits, Cookie.ROUND_MASK));
    }
}
