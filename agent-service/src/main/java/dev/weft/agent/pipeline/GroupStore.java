package dev.weft.agent.pipeline;

import dev.weft.agent.openflow.GroupMod;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The OpenFlow groups the agent wants on the bridge, per owner (as {@link FlowStore} keeps flows), in their encoded
 * group_mod form (ADD_OR_MOD, so a replay is idempotent): what is needed to compute deltas, to replay everything after
 * Open vSwitch restarts, and to tell a previous agent run's groups (on the switch, not here) from ours. A group id
 * belongs to one owner. Not thread-safe: the datapath serializes its updates.
 */
public final class GroupStore {

    private final Map<Long, Map<Integer, byte[]>> byOwner = new LinkedHashMap<>();
    private final Map<Integer, Long> ownerOf = new HashMap<>();

    /** Group mods to send before the owner's flows (new or changed groups) and after them (deleted groups). */
    public record Delta(List<byte[]> before, List<byte[]> after, Map<Integer, byte[]> desired) {
        public boolean isEmpty() {
            return before.isEmpty() && after.isEmpty();
        }
    }

    public Delta diff(long owner, List<GroupMod> groups) {
        Map<Integer, byte[]> old = byOwner.getOrDefault(owner, Map.of());
        Map<Integer, byte[]> next = new LinkedHashMap<>();
        for (GroupMod g : groups) {
            if (g.command() != GroupMod.ADD_OR_MOD) {
                throw new IllegalArgumentException("stored groups are ADD_OR_MOD: " + g);
            }
            Long other = ownerOf.get(g.groupId());
            if (other != null && other != owner) {
                throw new IllegalArgumentException("group " + Integer.toUnsignedString(g.groupId()) + " belongs to owner "
                        + Long.toHexString(other) + ", not " + Long.toHexString(owner));
            }
            if (next.put(g.groupId(), g.encode()) != null) {
                throw new IllegalArgumentException("group " + Integer.toUnsignedString(g.groupId()) + " given twice");
            }
        }
        List<byte[]> before = new ArrayList<>();
        List<byte[]> after = new ArrayList<>();
        next.forEach((id, m) -> {
            byte[] prev = old.get(id);
            if (prev == null || !Arrays.equals(prev, m)) {
                before.add(m);
            }
        });
        old.keySet().stream().filter(id -> !next.containsKey(id)).forEach(id -> after.add(GroupMod.delete(id)));
        return new Delta(before, after, next);
    }

    /** Records that a delta is on the switch. */
    public void commit(long owner, Delta delta) {
        Map<Integer, byte[]> prev = byOwner.remove(owner);
        if (prev != null) {
            prev.keySet().forEach(ownerOf::remove);
        }
        if (!delta.desired().isEmpty()) {
            byOwner.put(owner, delta.desired());
            delta.desired().keySet().forEach(id -> ownerOf.put(id, owner));
        }
    }

    public void forEach(Consumer<byte[]> action) {
        byOwner.values().forEach(m -> m.values().forEach(action));
    }

    public boolean contains(int groupId) {
        return ownerOf.containsKey(groupId);
    }

    public int count() {
        return ownerOf.size();
    }

    public Map<Integer, byte[]> groupsOf(long owner) {
        return Map.copyOf(byOwner.getOrDefault(owner, Map.of()));
    }
}
