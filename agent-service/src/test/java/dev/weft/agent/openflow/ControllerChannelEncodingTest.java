package dev.weft.agent.openflow;

import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The controller channel's messages are byte-for-byte what ovs-ofctl sends: meter_mods (add/modify/delete, pktps and
 * kbps with a drop band), flows with {@code meter:N,CONTROLLER:len} and an ip_dscp match, packet-outs to TABLE and
 * to a port. Malformed packet-ins are OfExceptions naming the problem.
 */
class ControllerChannelEncodingTest {

    private static final HexFormat HEX = HexFormat.of();

    @Test
    void meterModsAreWhatOvsOfctlSends() throws Exception {
        MeterMod pkt = MeterMod.packetsPerSecond(7, 10, 5);
        assertEquals(hex(OfctlMessageCapture.capture(MeterMod.OFPT_METER_MOD, "add-meter", pkt.toString())), hex(pkt.encode()));
        MeterMod kb = MeterMod.kbps(3, 1000, 0);
        assertEquals(hex(OfctlMessageCapture.capture(MeterMod.OFPT_METER_MOD, "add-meter", kb.toString())), hex(kb.encode()));
        assertEquals(hex(OfctlMessageCapture.capture(MeterMod.OFPT_METER_MOD, "mod-meter", kb.toString())),
                hex(kb.asModify().encode()));
        assertEquals(hex(OfctlMessageCapture.capture(MeterMod.OFPT_METER_MOD, "del-meter", "meter=7")),
                hex(MeterMod.delete(7).encode()));
        assertEquals(pkt, MeterMod.decode(pkt.encode()));
        assertEquals(kb, MeterMod.decode(kb.encode()));
        assertThrows(IllegalArgumentException.class, () -> MeterMod.packetsPerSecond(0, 10, 0));
        assertThrows(IllegalArgumentException.class, () -> MeterMod.packetsPerSecond(1, 0, 0));
        assertThrows(OfException.class, () -> MeterMod.decode(java.util.Arrays.copyOf(pkt.encode(), 20)));
    }

    @Test
    void controllerFlowsWithMetersAndDscpMatchesAreWhatOvsOfctlSends() throws Exception {
        FlowMod f = new FlowMod(0, 100, 0x0000_0900_0000_0001L, Match.builder().ipDscp(12).tcp().build(),
                List.of(new OfAction.Meter(7), new OfAction.Controller(128)), -1);
        String text = "table=0,priority=100,cookie=0x90000000001,tcp,ip_dscp=12 actions=meter:7,CONTROLLER:128";
        assertEquals(hex(OfctlMessageCapture.capture(FlowMod.OFPT_FLOW_MOD, "add-flow", text)), hex(f.encode()));
        assertEquals(f, FlowMod.decodeAdd(f.encode()));
        assertEquals("table=0, priority=100,tcp,ip_dscp=12 actions=meter:7,CONTROLLER:128", f.toString());
        FlowMod g = new FlowMod(90, 191, 0, Match.builder().conjId(4).ipDscp(5).build(),
                List.of(new OfAction.RegLoad(OfField.REG8, 0, 32, 4), new OfAction.Resubmit(105)), -1);
        String gText = "table=90,priority=191,conj_id=4,ip,ip_dscp=5 actions=load:0x4->NXM_NX_REG8[],resubmit(,105)";
        assertEquals(hex(OfctlMessageCapture.capture(FlowMod.OFPT_FLOW_MOD, "add-flow", gText)), hex(g.encode()));
        assertThrows(IllegalArgumentException.class, () -> new FlowMod(0, 1, 0, Match.builder().build(),
                List.of(new OfAction.Controller(64), new OfAction.Meter(1)), -1));
    }

    @Test
    void packetOutsAreWhatOvsOfctlSends() throws Exception {
        byte[] frame = HEX.parseHex("0a0000000002" + "0a0000000001" + "0800" + "45000014000100004001f7e60a0000010a000002");
        PacketOut toTable = PacketOut.toPipeline(5, frame);
        byte[] theirs = OfctlMessageCapture.capture(PacketOut.OFPT_PACKET_OUT, "packet-out",
                "in_port=5,packet=" + HEX.formatHex(frame) + ",actions=TABLE");
        assertEquals(hex(theirs), hex(toTable.encode()));
        PacketOut toPort = PacketOut.toPort(3, frame);
        theirs = OfctlMessageCapture.capture(PacketOut.OFPT_PACKET_OUT, "packet-out",
                "in_port=CONTROLLER,packet=" + HEX.formatHex(frame) + ",actions=output:3");
        assertEquals(hex(theirs), hex(toPort.encode()));
        PacketOut resubmit = new PacketOut(5, List.of(new OfAction.Resubmit(10)), frame);
        theirs = OfctlMessageCapture.capture(PacketOut.OFPT_PACKET_OUT, "packet-out",
                "in_port=5,packet=" + HEX.formatHex(frame) + ",actions=resubmit(,10)");
        assertEquals(hex(theirs), hex(resubmit.encode()));
        assertThrows(IllegalArgumentException.class, () -> PacketOut.toPort(1, new byte[5]));
    }

    @Test
    void aPacketInIsDecodedAndAMalformedOneNamesItsProblem() {
        // OFPT_PACKET_IN: no buffer, total_len 42, reason action, table 90, cookie, match in_port=6 reg8=4, pad, frame
        String match = "0001" + "0014" + "80000004" + "00000006" + "00011004" + "00000004" + "0000000000000000".substring(0, 0);
        String body = "ffffffff" + "002a" + "01" + "5a" + "0000090000000003" + match + "00000000" /* pad match to 8 */
                + "0000" + "ffffffffffff0a00000000010800";
        String msg = "040a" + String.format("%04x", 8 + body.length() / 2) + "00000000" + body;
        PacketIn p = PacketIn.decode(Unpooled.wrappedBuffer(HEX.parseHex(msg)));
        assertEquals(PacketIn.REASON_ACTION, p.reason());
        assertEquals(90, p.tableId());
        assertEquals(0x0000_0900_0000_0003L, p.cookie());
        assertEquals(6, p.inPort());
        assertEquals(4, p.register(8));
        assertEquals(0, p.register(9));
        assertEquals(14, p.frame().length);
        assertEquals(42, p.totalLength());
        byte[] bytes = HEX.parseHex(msg);
        for (int cut : new int[]{8, 24, 30, 40, bytes.length - 15}) {
            byte[] shortMsg = java.util.Arrays.copyOf(bytes, cut);
            shortMsg[2] = (byte) (cut >> 8);
            shortMsg[3] = (byte) cut;
            var e = assertThrows(OfException.class, () -> PacketIn.decode(Unpooled.wrappedBuffer(shortMsg)));
            assertTrue(e.getMessage().contains("packet-in") || e.getMessage().contains("match"), e.getMessage());
        }
    }

    private static String hex(byte[] b) {
        return HEX.formatHex(b);
    }
}
