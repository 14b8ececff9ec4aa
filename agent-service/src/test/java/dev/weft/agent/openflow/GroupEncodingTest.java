package dev.weft.agent.openflow;

import dev.weft.agent.testing.OvsSandbox;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static dev.weft.agent.openflow.Match.CT_NEW;
import static dev.weft.agent.openflow.Match.CT_TRK;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Group mods and the Service actions and matches (group, ct(commit,nat(dst=...),exec(set_field->ct_mark)), ct_mark,
 * tp_dst of TCP/UDP/SCTP) are byte-for-byte what ovs-ofctl sends for them, and a real userspace bridge shows them
 * back in {@code dump-groups} / {@code dump-flows} as our text says.
 */
class GroupEncodingTest {

    static GroupMod.Bucket bucket(int weight, String ip, int port) {
        return new GroupMod.Bucket(weight, List.of(new OfAction.RegLoad(OfField.REG3, 0, 32, Match.parseIpv4(ip)),
                new OfAction.RegLoad(OfField.REG4, 0, 16, port), new OfAction.Resubmit(42)));
    }

    static Map<String, GroupMod> groups() {
        Map<String, GroupMod> c = new LinkedHashMap<>();
        c.put("group_id=1,type=select,bucket=weight:100,actions=load:0xa0a0106->NXM_NX_REG3[],load:0x50->NXM_NX_REG4[0..15],resubmit(,42)",
                new GroupMod(GroupMod.ADD, GroupMod.TYPE_SELECT, 1, List.of(bucket(100, "10.10.1.6", 80))));
        c.put("group_id=1073742080,type=select,bucket=actions=load:0xa0a0106->NXM_NX_REG3[],load:0x50->NXM_NX_REG4[0..15],resubmit(,42),"
                        + "bucket=weight:65535,actions=load:0xa0a0106->NXM_NX_REG3[],load:0x50->NXM_NX_REG4[0..15],resubmit(,42),"
                        + "bucket=weight:65535,actions=load:0xa0a0207->NXM_NX_REG3[],load:0x1f90->NXM_NX_REG4[0..15],resubmit(,42)",
                new GroupMod(GroupMod.ADD, GroupMod.TYPE_SELECT, 0x40000100, List.of(bucket(1, "10.10.1.6", 80),
                        bucket(65535, "10.10.1.6", 80), bucket(65535, "10.10.2.7", 8080))));
        c.put("group_id=7,type=select,bucket=weight:65535,actions=group:8,bucket=weight:65535,actions=group:9,bucket=actions=group:8",
                new GroupMod(GroupMod.ADD, GroupMod.TYPE_SELECT, 7, List.of(
                        new GroupMod.Bucket(65535, List.of(new OfAction.Group(8))),
                        new GroupMod.Bucket(65535, List.of(new OfAction.Group(9))),
                        new GroupMod.Bucket(1, List.of(new OfAction.Group(8))))));
        return c;
    }

    @Test
    void groupModsAreByteForByteWhatOvsOfctlSends() throws Exception {
        HexFormat hex = HexFormat.of();
        for (Map.Entry<String, GroupMod> e : groups().entrySet()) {
            byte[] theirs = OfctlMessageCapture.capture(GroupMod.OFPT_GROUP_MOD, "add-group", e.getKey());
            assertEquals(hex.formatHex(theirs), hex.formatHex(e.getValue().encode()), e.getKey());
            assertEquals(e.getKey(), e.getValue().toString());
            assertEquals(e.getValue(), GroupMod.decode(e.getValue().encode()));
        }
        GroupMod first = groups().values().iterator().next();
        byte[] addOrMod = OfctlMessageCapture.capture(GroupMod.OFPT_GROUP_MOD, "--may-create mod-group",
                groups().keySet().iterator().next());
        assertEquals(hex.formatHex(addOrMod), hex.formatHex(GroupMod.select(1, first.buckets()).encode()));
        byte[] mod = OfctlMessageCapture.capture(GroupMod.OFPT_GROUP_MOD, "mod-group", groups().keySet().iterator().next());
        assertEquals(hex.formatHex(mod), hex.formatHex(new GroupMod(GroupMod.MODIFY, GroupMod.TYPE_SELECT, 1, first.buckets()).encode()));
        byte[] del = OfctlMessageCapture.capture(GroupMod.OFPT_GROUP_MOD, "del-groups", "group_id=1073742080");
        assertEquals(hex.formatHex(del), hex.formatHex(GroupMod.delete(0x40000100)));
    }

    static Map<String, FlowMod> flows() {
        Map<String, FlowMod> c = new LinkedHashMap<>();
        c.put("table=40,priority=200,ct_state=+new+trk,tcp,nw_dst=10.96.0.10,tp_dst=80 actions=load:0x1->NXM_NX_REG0[4],group:1073742080",
                new FlowMod(40, 200, 0, Match.builder().tpDst(6, 80, 0xffff).nwDst("10.96.0.10").ctState(CT_NEW | CT_TRK, CT_NEW | CT_TRK).build(),
                        List.of(new OfAction.RegLoad(OfField.REG0, 4, 1, 1), new OfAction.Group(0x40000100)), -1));
        c.put("table=40,priority=200,ct_state=+new+trk,udp,nw_dst=10.96.0.10,tp_dst=53 actions=drop",
                new FlowMod(40, 200, 0, Match.builder().tpDst(17, 53, 0xffff).nwDst("10.96.0.10").ctState(CT_NEW | CT_TRK, CT_NEW | CT_TRK).build(),
                        List.of(), -1));
        c.put("table=40,priority=200,ct_state=+new+trk,sctp,nw_dst=10.96.0.11,tp_dst=9999 actions=group:7",
                new FlowMod(40, 200, 0, Match.builder().tpDst(132, 9999, 0xffff).nwDst("10.96.0.11").ctState(CT_NEW | CT_TRK, CT_NEW | CT_TRK).build(),
                        List.of(new OfAction.Group(7)), -1));
        c.put("table=42,priority=200,tcp,reg3=0xa0a0106,reg4=0x50/0xffff actions=ct(commit,table=50,zone=65520,nat(dst=10.10.1.6:80),exec(set_field:0x1->ct_mark))",
                new FlowMod(42, 200, 0, Match.builder().tcp().reg(3, Match.parseIpv4("10.10.1.6")).reg(4, 80, 0xffff).build(),
                        List.of(new OfAction.Ct(true, 65520, 50, List.of(new OfAction.NatTo(false, Match.parseIpv4("10.10.1.6"), 80),
                                new OfAction.SetField(OfField.CT_MARK, 1)))), -1));
        c.put("table=42,priority=200,ip actions=ct(commit,zone=65520,nat(src=10.10.1.254))",
                new FlowMod(42, 200, 0, Match.builder().ip().build(),
                        List.of(new OfAction.Ct(true, 65520, -1, List.of(new OfAction.NatTo(true, Match.parseIpv4("10.10.1.254"), 0)))), -1));
        c.put("table=50,priority=200,ct_state=-new+trk,ct_mark=0x1/0x1,ip actions=resubmit(,70)",
                new FlowMod(50, 200, 0, Match.builder().ip().ctState(CT_TRK, CT_NEW | CT_TRK).ctMark(1, 1).build(),
                        List.of(new OfAction.Resubmit(70)), -1));
        return c;
    }

    @Test
    void serviceFlowsAreByteForByteWhatOvsOfctlSends() throws Exception {
        HexFormat hex = HexFormat.of();
        for (Map.Entry<String, FlowMod> e : flows().entrySet()) {
            byte[] theirs = OfctlMessageCapture.capture(FlowMod.OFPT_FLOW_MOD, "add-flow", e.getKey());
            assertEquals(hex.formatHex(theirs), hex.formatHex(e.getValue().encode()), e.getKey());
            FlowMod back = FlowMod.decodeAdd(e.getValue().encode());
            assertEquals(e.getValue(), back, e.getKey());
        }
    }

    @Test
    void aGroupTooLargeForOneMessageIsRefusedWithTheReason() {
        List<GroupMod.Bucket> many = java.util.stream.IntStream.range(0, 900).mapToObj(i -> bucket(1, "10.0.0.1", 80)).toList();
        var e = assertThrows(IllegalArgumentException.class, () -> GroupMod.select(3, many).encode());
        assertTrue(e.getMessage().contains("chained groups"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> GroupMod.select(0xfffffffc, List.of()));
    }

    /** On a real bridge: the switch shows our groups as our text says, and our group ids listing finds them. */
    @Test
    void aRealBridgeShowsOurGroupsAndFlows() throws Exception {
        try (OvsSandbox ovs = OvsSandbox.start();
             OfConnection c = new OfConnection(OfEndpoint.parse("unix:" + ovs.mgmtSocket()), (conn, dpid) -> { }).start()) {
            await().atMost(Duration.ofSeconds(20)).until(c::isReady);
            List<GroupMod> gs = groups().values().stream().map(g -> GroupMod.select(g.groupId(), g.buckets())).toList();
            // groups and the flows that send to them in one bundle, groups first
            List<byte[]> msgs = new java.util.ArrayList<>();
            gs.forEach(g -> msgs.add(g.encode()));
            flows().values().forEach(f -> msgs.add(f.encode()));
            c.send(msgs, true).get(20, TimeUnit.SECONDS);
            String dump = ovs.ofctl("dump-groups", ovs.mgmtSocket().toString());
            for (GroupMod g : gs) {
                assertTrue(dump.lines().anyMatch(l -> l.trim().equals(g.toString())), () -> g + "\nnot in\n" + dump);
            }
            List<FlowStats> onSwitch = c.dumpFlows(0xff, 0, 0).get(10, TimeUnit.SECONDS);
            for (FlowMod f : flows().values()) {
                assertTrue(onSwitch.stream().anyMatch(st -> st.flow().equals(f)), () -> f + "\nnot in\n" + onSwitch);
            }
            List<Integer> ids = c.groupIds().get(10, TimeUnit.SECONDS);
            assertEquals(gs.stream().map(GroupMod::groupId).sorted().toList(), ids.stream().sorted().toList());
            // deleting a group deletes the flows that send to it (Open vSwitch), which is why deletes go last
            c.send(List.of(GroupMod.delete(7)), false).get(10, TimeUnit.SECONDS);
            assertTrue(c.groupIds().get(10, TimeUnit.SECONDS).stream().noneMatch(id -> id == 7));
        }
    }
}
