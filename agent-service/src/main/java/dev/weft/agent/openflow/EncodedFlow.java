package dev.weft.agent.openflow;

import java.util.Arrays;
import java.util.List;

/**
 * A flow_mod in its OpenFlow 1.3 wire form, the form the agent keeps its flows in: stores hold the byte arrays
 * themselves (about 100-200 bytes a flow, no object per flow) and wrap one in an {@code EncodedFlow} only to read or
 * change it, so the layout of those bytes is known here and nowhere else.
 *
 * <p>The view does not copy: {@link #setCookieBits} changes the array it wraps (a new flow round rewrites every
 * stored flow in place instead of copying tens of thousands of arrays).
 */
public final class EncodedFlow {

    /** Offsets inside an encoded flow_mod (ofp_header, cookie, cookie_mask, table, command, ..., priority, match). */
    static final int OFS_COOKIE = 8, OFS_TABLE = 24, OFS_COMMAND = 25, OFS_HARD_TIMEOUT = 28, OFS_PRIORITY = 30,
            OFS_MATCH = 48;
    private static final int OF13 = 4;

    private final byte[] bytes;

    private EncodedFlow(byte[] bytes) {
        this.bytes = bytes;
    }

    /** A view over an encoded flow_mod (as {@link FlowMod#encode()} gives it); refuses anything else. */
    public static EncodedFlow of(byte[] flowMod) {
        if (flowMod.length < OFS_MATCH + 4 || flowMod[0] != OF13 || flowMod[1] != FlowMod.OFPT_FLOW_MOD
                || u16(flowMod, 2) != flowMod.length || OFS_MATCH + matchLength(flowMod) > flowMod.length) {
            throw new IllegalArgumentException("not an encoded OpenFlow 1.3 flow_mod (" + flowMod.length + " bytes)");
        }
        return new EncodedFlow(flowMod);
    }

    /** The wrapped array itself (what stores keep and connections send). */
    public byte[] bytes() {
        return bytes;
    }

    public int table() {
        return bytes[OFS_TABLE] & 0xff;
    }

    public int priority() {
        return u16(bytes, OFS_PRIORITY);
    }

    public long cookie() {
        long c = 0;
        for (int i = 0; i < 8; i++) {
            c = (c << 8) | (bytes[OFS_COOKIE + i] & 0xff);
        }
        return c;
    }

    public int command() {
        return bytes[OFS_COMMAND] & 0xff;
    }

    /** Replaces the cookie's bits under {@code mask} by those of {@code bits}, in the wrapped array. */
    public void setCookieBits(long bits, long mask) {
        long c = (cookie() & ~mask) | (bits & mask);
        for (int i = 0; i < 8; i++) {
            bytes[OFS_COOKIE + i] = (byte) (c >>> (56 - 8 * i));
        }
    }

    /**
     * Sets the hard timeout (seconds, 0 = none) in the wrapped array: the switch deletes the flow that long after it
     * was added, whatever happens to the agent (trace flows use it so none can outlive its trace).
     */
    public EncodedFlow setHardTimeout(int seconds) {
        if (seconds < 0 || seconds > 0xffff) {
            throw new IllegalArgumentException("hard timeout " + seconds + " s out of 0..65535");
        }
        bytes[OFS_HARD_TIMEOUT] = (byte) (seconds >> 8);
        bytes[OFS_HARD_TIMEOUT + 1] = (byte) seconds;
        return this;
    }

    public int hardTimeout() {
        return u16(bytes, OFS_HARD_TIMEOUT);
    }

    /** Table, priority and match bytes: what identifies a flow in Open vSwitch. */
    public FlowMod.FlowKey key() {
        int n = matchLength(bytes);
        byte[] k = new byte[3 + n];
        k[0] = bytes[OFS_TABLE];
        k[1] = bytes[OFS_PRIORITY];
        k[2] = bytes[OFS_PRIORITY + 1];
        System.arraycopy(bytes, OFS_MATCH, k, 3, n);
        return new FlowMod.FlowKey(k);
    }

    /** Back to a flow (for display, errors and merging actions). */
    public FlowMod decode() {
        return FlowMod.decodeAdd(bytes);
    }

    /** ovs-ofctl form, {@code delete } in front of a delete. */
    public String describe() {
        String what = command() == FlowMod.DELETE || command() == FlowMod.DELETE_STRICT ? "delete " : "";
        return what + decode();
    }

    /** The DELETE_STRICT for the flow this ADD installs (same table, priority and match). */
    public byte[] deleteStrict() {
        int end = instructionsOffset();
        byte[] del = Arrays.copyOf(bytes, end);
        del[2] = (byte) (end >> 8);
        del[3] = (byte) end;
        del[OFS_COMMAND] = FlowMod.DELETE_STRICT;
        return del;
    }

    /** The same flow (table, priority, match bytes) with other actions and cookie, as a new array. */
    public EncodedFlow withActions(long cookie, List<OfAction> actions) {
        // encode the actions on a match-all flow and splice its instructions after this flow's match
        byte[] other = new FlowMod(table(), 0, cookie, Match.builder().build(), actions, -1).encode();
        int head = instructionsOffset();
        int otherHead = new EncodedFlow(other).instructionsOffset();
        byte[] out = new byte[head + other.length - otherHead];
        System.arraycopy(bytes, 0, out, 0, head);
        System.arraycopy(other, otherHead, out, head, other.length - otherHead);
        out[2] = (byte) (out.length >> 8);
        out[3] = (byte) out.length;
        EncodedFlow f = new EncodedFlow(out);
        f.setCookieBits(cookie, -1L);
        return f;
    }

    private int instructionsOffset() {
        return OFS_MATCH + (matchLength(bytes) + 7) / 8 * 8;
    }

    // ---- identity in place, for tables of encoded flows that keep no key object per flow ----

    /**
     * The hash of a flow's identity (table, priority, match), equal to {@link #identityHash(FlowMod.FlowKey)}. FNV-1a
     * rather than {@code 31 * h + b}: flows that differ only in an address inside the match (an endpoint's reg value,
     * a peer's nw_dst) would otherwise collide in bulk, since with a multiplier smaller than a byte's range
     * {@code b1 * 31 + b2} takes the same value for many byte pairs (1,0 and 0,31), and tables of 100,000 such flows
     * degrade into long probe chains.
     */
    public static int identityHash(byte[] flow) {
        int h = FNV_OFFSET;
        h = (h ^ (flow[OFS_TABLE] & 0xff)) * FNV_PRIME;
        h = (h ^ (flow[OFS_PRIORITY] & 0xff)) * FNV_PRIME;
        h = (h ^ (flow[OFS_PRIORITY + 1] & 0xff)) * FNV_PRIME;
        int n = matchLength(flow);
        for (int i = 0; i < n; i++) {
            h = (h ^ (flow[OFS_MATCH + i] & 0xff)) * FNV_PRIME;
        }
        return spread(h);
    }

    public static int identityHash(FlowMod.FlowKey key) {
        int h = FNV_OFFSET;
        for (byte b : key.bytes()) {
            h = (h ^ (b & 0xff)) * FNV_PRIME;
        }
        return spread(h);
    }

    private static final int FNV_OFFSET = 0x811c9dc5, FNV_PRIME = 0x01000193;

    private static int spread(int h) {
        return h ^ (h >>> 16);
    }

    /** Whether the encoded flow has this identity. */
    public static boolean hasIdentity(byte[] flow, FlowMod.FlowKey key) {
        byte[] k = key.bytes();
        int n = matchLength(flow);
        if (k.length != 3 + n || flow[OFS_TABLE] != k[0] || flow[OFS_PRIORITY] != k[1] || flow[OFS_PRIORITY + 1] != k[2]) {
            return false;
        }
        return Arrays.equals(flow, OFS_MATCH, OFS_MATCH + n, k, 3, 3 + n);
    }

    /** Whether two encoded flows have the same identity (an ADD of one replaces the other). */
    public static boolean sameIdentity(byte[] a, byte[] b) {
        int n = matchLength(a);
        if (matchLength(b) != n || a[OFS_TABLE] != b[OFS_TABLE] || a[OFS_PRIORITY] != b[OFS_PRIORITY]
                || a[OFS_PRIORITY + 1] != b[OFS_PRIORITY + 1]) {
            return false;
        }
        return Arrays.equals(a, OFS_MATCH, OFS_MATCH + n, b, OFS_MATCH, OFS_MATCH + n);
    }

    private static int matchLength(byte[] flow) {
        return u16(flow, OFS_MATCH + 2);
    }

    private static int u16(byte[] b, int at) {
        return ((b[at] & 0xff) << 8) | (b[at + 1] & 0xff);
    }
}
