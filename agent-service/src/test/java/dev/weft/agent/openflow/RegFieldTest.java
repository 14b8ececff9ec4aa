package dev.weft.agent.openflow;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Named register fields and marks encode as the register numbers ovs-ofctl would be given (FlowEncodingTest). */
class RegFieldTest {

    static final RegField SOURCE = new RegField("SourceField", 0, 0, 3);
    static final RegMark FROM_TUNNEL = SOURCE.mark("FromTunnelMark", 3);
    static final RegField PORT = new RegField("PortField", 1, 0, 31);
    static final RegField HIGH_BITS = new RegField("HighBits", 2, 8, 15);

    @Test
    void matchesAndActionsAreTheRawRegisterForms() {
        assertEquals(Match.builder().reg(0, 3, 0xf).build(), Match.builder().regMark(FROM_TUNNEL).build());
        assertEquals(Match.builder().reg(1, 6).build(), Match.builder().reg(PORT, 6).build());
        assertEquals("reg2=0x500/0xff00", Match.builder().reg(HIGH_BITS, 5).build().toString());
        assertEquals(new OfAction.RegLoad(OfField.REG0, 0, 4, 3), OfAction.RegLoad.of(FROM_TUNNEL));
        assertEquals("load:0x3->NXM_NX_REG0[0..3]", OfAction.RegLoad.of(FROM_TUNNEL).toString());
        assertEquals("load:0x1e->NXM_NX_REG1[]", OfAction.RegLoad.of(PORT, 30).toString());
        assertEquals("output:NXM_NX_REG1[]", OfAction.OutputReg.of(PORT).toString());
        FlowMod named = new FlowMod(0, 200, 0, Match.builder().inPort(30).build(), List.of(OfAction.RegLoad.of(FROM_TUNNEL)), -1);
        FlowMod raw = new FlowMod(0, 200, 0, Match.builder().inPort(30).build(), List.of(new OfAction.RegLoad(OfField.REG0, 0, 4, 3)), -1);
        assertArrayEquals(raw.encode(), named.encode());
        assertEquals("NXM_NX_REG0[0..3]", SOURCE.ofctlName());
        assertEquals("NXM_NX_REG1[]", PORT.ofctlName());
    }

    @Test
    void requiresReadsTheFieldOutOfAMatch() {
        assertTrue(Match.builder().ip().reg(PORT, 6).build().requires(PORT, 6));
        assertFalse(Match.builder().ip().reg(PORT, 6).build().requires(PORT, 7));
        assertTrue(Match.builder().regMark(FROM_TUNNEL).build().requires(SOURCE, 3));
        assertFalse(Match.builder().regMark(FROM_TUNNEL).build().requires(PORT, 3), "another register");
        assertTrue(Match.builder().reg(HIGH_BITS, 5).build().requires(HIGH_BITS, 5));
    }

    @Test
    void valuesAndRangesThatDoNotFitAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SOURCE.mark("TooBig", 16));
        assertEquals("SourceField: value 16 does not fit in 4 bits", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Match.builder().reg(SOURCE, -1));
        assertThrows(IllegalArgumentException.class, () -> OfAction.RegLoad.of(HIGH_BITS, 256));
        assertThrows(IllegalArgumentException.class, () -> new RegField("NoSuchRegister", 16, 0, 3));
        assertThrows(IllegalArgumentException.class, () -> new RegField("Backwards", 0, 4, 3));
        assertThrows(IllegalArgumentException.class, () -> new RegField("PastTheEnd", 0, 30, 32));
    }
}
