package dev.weft.agent.openflow;

import org.junit.jupiter.api.Test;

import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.weft.agent.openflow.Match.CT_NEW;
import static dev.weft.agent.openflow.Match.CT_TRK;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The learn action (NXAST_LEARN) of Service session affinity is byte-for-byte what ovs-ofctl sends for the same text,
 * reads back as itself, and prints as ovs-ofctl prints it.
 */
class LearnEncodingTest {

    static OfAction.Learn affinityLearn(int proto, OfField tpDst, String clusterIp, int port, int hardTimeout, long cookie) {
        return new OfAction.Learn(41, 200, 0, hardTimeout, cookie, List.of(
                new OfAction.LearnSpec.MatchValue(OfField.ETH_TYPE, 0x800),
                new OfAction.LearnSpec.MatchValue(OfField.IP_PROTO, proto),
                new OfAction.LearnSpec.MatchField(OfField.IPV4_SRC),
                new OfAction.LearnSpec.MatchValue(OfField.IPV4_DST, Match.parseIpv4(clusterIp)),
                new OfAction.LearnSpec.MatchValue(tpDst, port),
                new OfAction.LearnSpec.LoadField(OfField.REG3, 0, OfField.REG3, 0, 32),
                new OfAction.LearnSpec.LoadField(OfField.REG4, 0, OfField.REG4, 0, 16),
                new OfAction.LearnSpec.LoadValue(2, OfField.REG0, 6, 2)));
    }

    static Map<String, FlowMod> flows() {
        Match svc = Match.builder().tpDst(6, 80, 0xffff).nwDst("10.96.0.10").ctState(CT_NEW | CT_TRK, CT_NEW | CT_TRK)
                .reg(0, 0x80, 0x80).build();
        Map<String, FlowMod> c = new LinkedHashMap<>();
        c.put("table=40,priority=210,ct_state=+new+trk,tcp,reg0=0x80/0x80,nw_dst=10.96.0.10,tp_dst=80 actions="
                        + "learn(table=41,hard_timeout=10800,priority=200,cookie=0xb000000000003,eth_type=0x800,nw_proto=6,"
                        + "NXM_OF_IP_SRC[],ip_dst=10.96.0.10,tcp_dst=80,load:NXM_NX_REG3[]->NXM_NX_REG3[],"
                        + "load:NXM_NX_REG4[0..15]->NXM_NX_REG4[0..15],load:0x2->NXM_NX_REG0[6..7]),resubmit(,42)",
                new FlowMod(40, 210, 0, svc, List.of(affinityLearn(6, OfField.TCP_DST, "10.96.0.10", 80, 10800,
                        0xb000000000003L), new OfAction.Resubmit(42)), -1));
        c.put("table=40,priority=210,ct_state=+new+trk,udp,nw_dst=10.96.0.10,tp_dst=53 actions="
                        + "learn(table=41,hard_timeout=1,priority=200,eth_type=0x800,nw_proto=17,"
                        + "NXM_OF_IP_SRC[],ip_dst=10.96.0.10,udp_dst=53,load:NXM_NX_REG3[]->NXM_NX_REG3[],"
                        + "load:NXM_NX_REG4[0..15]->NXM_NX_REG4[0..15],load:0x2->NXM_NX_REG0[6..7])",
                new FlowMod(40, 210, 0, Match.builder().tpDst(17, 53, 0xffff).nwDst("10.96.0.10")
                        .ctState(CT_NEW | CT_TRK, CT_NEW | CT_TRK).build(),
                        List.of(affinityLearn(17, OfField.UDP_DST, "10.96.0.10", 53, 1, 0)), -1));
        return c;
    }

    @Test
    void learnIsByteForByteWhatOvsOfctlSendsAndReadsBack() throws Exception {
        HexFormat hex = HexFormat.of();
        for (Map.Entry<String, FlowMod> e : flows().entrySet()) {
            byte[] theirs = OfctlMessageCapture.capture(FlowMod.OFPT_FLOW_MOD, "add-flow", e.getKey());
            assertEquals(hex.formatHex(theirs), hex.formatHex(e.getValue().encode()), e.getKey());
            FlowMod back = FlowMod.decodeAdd(e.getValue().encode());
            assertEquals(e.getValue(), back, e.getKey());
            assertEquals(e.getKey().substring(e.getKey().indexOf("actions=") + 8), OfAction.format(back.actions()));
        }
    }

    @Test
    void aSctpLearnWithAnIdleTimeoutIsWhatOvsOfctlSends() throws Exception {
        String text = "table=40,priority=210,ct_state=+new+trk,sctp,nw_dst=10.96.0.11,tp_dst=9999 actions="
                + "learn(table=41,idle_timeout=60,hard_timeout=20000,eth_type=0x800,nw_proto=132,"
                + "NXM_OF_IP_SRC[],ip_dst=10.96.0.11,sctp_dst=9999,load:NXM_NX_REG3[]->NXM_NX_REG3[])";
        FlowMod f = new FlowMod(40, 210, 0, Match.builder().tpDst(132, 9999, 0xffff).nwDst("10.96.0.11")
                .ctState(CT_NEW | CT_TRK, CT_NEW | CT_TRK).build(),
                List.of(new OfAction.Learn(41, 0x8000, 60, 20000, 0, List.of(
                        new OfAction.LearnSpec.MatchValue(OfField.ETH_TYPE, 0x800),
                        new OfAction.LearnSpec.MatchValue(OfField.IP_PROTO, 132),
                        new OfAction.LearnSpec.MatchField(OfField.IPV4_SRC),
                        new OfAction.LearnSpec.MatchValue(OfField.IPV4_DST, Match.parseIpv4("10.96.0.11")),
                        new OfAction.LearnSpec.MatchValue(OfField.SCTP_DST, 9999),
                        new OfAction.LearnSpec.LoadField(OfField.REG3, 0, OfField.REG3, 0, 32)))), -1);
        byte[] theirs = OfctlMessageCapture.capture(FlowMod.OFPT_FLOW_MOD, "add-flow", text);
        assertEquals(HexFormat.of().formatHex(theirs), HexFormat.of().formatHex(f.encode()), text);
        assertEquals(f, FlowMod.decodeAdd(f.encode()));
    }

    @Test
    void aTimeoutBeyondOpenFlowsSixteenBitsOrNoSpecIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new OfAction.Learn(41, 200, 0, 86400, 0,
                List.of(new OfAction.LearnSpec.MatchField(OfField.IPV4_SRC))));
        assertThrows(IllegalArgumentException.class, () -> new OfAction.Learn(41, 200, 0, 10, 0, List.of()));
    }
}
