package dev.weft.agent.openflow;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The encoded-flow view reads and changes exactly the fields of the flow_mod it wraps. */
class EncodedFlowTest {

    static final RegField PORT = new RegField("TestPortField", 1, 0, 31);

    static FlowMod flow(long cookie, List<OfAction> actions) {
        return new FlowMod(90, 200, cookie, Match.builder().ip().reg(PORT, 6).build(), actions, -1);
    }

    @Test
    void readsTablePriorityCookieAndKey() {
        FlowMod f = flow(0x0005_0200_0000_0007L, List.of(new OfAction.Conjunction(1, 2, 2)));
        EncodedFlow e = EncodedFlow.of(f.encode());
        assertEquals(90, e.table());
        assertEquals(200, e.priority());
        assertEquals(0x0005_0200_0000_0007L, e.cookie());
        assertEquals(FlowMod.ADD, e.command());
        assertEquals(f, e.decode());
        assertEquals("table=90, priority=200,ip,reg1=0x6 actions=conjunction(1,2/2)", e.describe());
        // the key ignores cookie and actions
        assertEquals(e.key(), EncodedFlow.of(flow(0, List.of(new OfAction.Resubmit(105))).encode()).key());
        assertNotEquals(e.key(), EncodedFlow.of(new FlowMod(90, 190, 0, f.match(), f.actions(), -1).encode()).key());
    }

    @Test
    void setCookieBitsChangesOnlyTheMaskedBitsInPlace() {
        byte[] bytes = flow(0x0001_0500_0000_0002L, List.of()).encode();
        byte[] before = bytes.clone();
        EncodedFlow.of(bytes).setCookieBits(0x0007L << 48, 0xffffL << 48);
        assertEquals(0x0007_0500_0000_0002L, EncodedFlow.of(bytes).cookie());
        before[8] = bytes[8];
        before[9] = bytes[9];
        assertArrayEquals(before, bytes, "nothing but the round bytes changed");
    }

    @Test
    void withActionsKeepsTheIdentityAndEqualsTheEncodingOfThatFlow() {
        FlowMod one = flow(1, List.of(new OfAction.Conjunction(1, 2, 2)));
        List<OfAction> both = List.of(new OfAction.Conjunction(1, 2, 2), new OfAction.Conjunction(4, 1, 3));
        EncodedFlow merged = EncodedFlow.of(one.encode()).withActions(9, both);
        assertArrayEquals(flow(9, both).encode(), merged.bytes());
        assertEquals(EncodedFlow.of(one.encode()).key(), merged.key());
    }

    @Test
    void deleteStrictIsTheSameFlowWithoutInstructions() {
        EncodedFlow e = EncodedFlow.of(flow(3, List.of(new OfAction.Resubmit(105))).encode());
        EncodedFlow del = EncodedFlow.of(e.deleteStrict());
        assertEquals(FlowMod.DELETE_STRICT, del.command());
        assertEquals(e.key(), del.key());
        assertTrue(del.bytes().length < e.bytes().length);
        assertTrue(del.describe().startsWith("delete table=90, priority=200,ip,reg1=0x6"), del.describe());
    }

    @Test
    void identityHashAndEqualityInPlaceAgreeWithTheKey() {
        byte[] a = flow(1, List.of(new OfAction.Resubmit(105))).encode();
        byte[] b = flow(2, List.of(new OfAction.Conjunction(3, 1, 2))).encode();
        byte[] c = new FlowMod(90, 200, 1, Match.builder().ip().reg(PORT, 7).build(), List.of(), -1).encode();
        FlowMod.FlowKey ka = EncodedFlow.of(a).key();
        assertEquals(EncodedFlow.identityHash(ka), EncodedFlow.identityHash(a));
        assertEquals(EncodedFlow.identityHash(a), EncodedFlow.identityHash(b));
        assertTrue(EncodedFlow.sameIdentity(a, b));
        assertTrue(EncodedFlow.hasIdentity(b, ka));
        assertFalse(EncodedFlow.sameIdentity(a, c));
        assertFalse(EncodedFlow.hasIdentity(c, ka));
    }

    /**
     * 100,000 flows that differ only in a 32-bit register value (Service endpoints' EndpointDNAT flows) get almost as
     * many distinct identity hashes: a byte-wise {@code 31 * h + b} gave 8,161 for these, and the flow tables'
     * probe chains grew accordingly.
     */
    @Test
    void flowsDifferingInAnAddressHashApart() {
        java.util.Set<Integer> hashes = new java.util.HashSet<>();
        int n = 100_000;
        for (int i = 0; i < n; i++) {
            byte[] f = new FlowMod(90, 200, 1, Match.builder().ip().reg(PORT, 0x0a800000 + i).build(), List.of(), -1).encode();
            hashes.add(EncodedFlow.identityHash(f));
        }
        assertTrue(hashes.size() > n * 99 / 100, hashes.size() + " distinct hashes for " + n + " flows");
    }

    @Test
    void refusesBytesThatAreNotAFlowMod() {
        byte[] ok = flow(1, List.of()).encode();
        assertThrows(IllegalArgumentException.class, () -> EncodedFlow.of(new byte[8]));
        assertThrows(IllegalArgumentException.class, () -> EncodedFlow.of(Arrays.copyOf(ok, ok.length - 8)));
        byte[] hello = ok.clone();
        hello[1] = 0;
        assertThrows(IllegalArgumentException.class, () -> EncodedFlow.of(hello));
    }
}
