package dev.weft.cli;

import dev.weft.proto.agent.v1.AgentNetworkPolicy;
import dev.weft.proto.agent.v1.Flow;
import dev.weft.proto.agent.v1.PodInterface;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What weftctl prints, for each output format, and its help (the Antrea walkthrough's table list). */
class RenderTest {

    @Test
    void flowsReadLikeTheSeed() {
        Flow f = Flow.newBuilder().setTableId(90).setTableName("IngressRule").setPriority(200).setNPackets(3).setNBytes(222)
                .setMatch("ip,reg1=0x6").setActions("conjunction(1,2/2)").build();
        assertEquals("table=90, n_packets=3, n_bytes=222, priority=200,ip,reg1=0x6 actions=conjunction(1,2/2)\n",
                Render.flows(List.of(f), Output.Format.TABLE));
        assertTrue(Render.flows(List.of(f), Output.Format.JSON).contains("\"nPackets\" : 3"));
        assertTrue(Render.flows(List.of(f), Output.Format.YAML).contains("match: \"ip,reg1=0x6\""));
    }

    @Test
    void policiesAndPodsAsTables() {
        String t = Render.policies(List.of(AgentNetworkPolicy.newBuilder().setNamespace("default").setName("nginx-allow")
                .addAppliedToGroups("766a9e51-f132-5c2f-b862-9ac68e75d77d").setRules(1).build()), Output.Format.TABLE);
        assertEquals("NAMESPACE NAME        APPLIED-TO                           RULES\n"
                + "default   nginx-allow 766a9e51-f132-5c2f-b862-9ac68e75d77d 1\n", t);
        String p = Render.pods(List.of(PodInterface.newBuilder().setNamespace("default").setName("web").setInterfaceName("web-0a1b2c")
                .addIps("10.10.1.2").setMac("0a:58:0a:0a:01:02").setPortUuid("u-1").setOfport(6)
                .setContainerId("0123456789abcdef").build()), Output.Format.TABLE);
        assertTrue(p.startsWith("NAMESPACE NAME INTERFACE-NAME IP        MAC               PORT-UUID OF-PORT CONTAINER-ID\n"), p);
        assertTrue(p.contains("0123456789ab\n"), p);
    }

    @Test
    void helpWithoutAnAgentShowsFlagsButNoTableCopyAndBadFormatsAreRefused() {
        StringWriter out = new StringWriter();
        CommandLine cl = new CommandLine(new Weftctl());
        cl.setOut(new PrintWriter(out));
        int code = cl.execute("--server", "127.0.0.1:1", "--timeout", "3", "get", "ovsflows", "-h");
        String help = out.toString();
        assertEquals(1, code, help);
        assertTrue(help.contains("$ weftctl get ovsflows --networkpolicy np1 -n ns1"), help);
        assertTrue(help.contains("Weft OVS Flow Tables: not shown (they come from the agent)\n  agent at 127.0.0.1:1"), help);
        assertTrue(!help.contains("90\tIngressRule"), "no copy of the table list in the CLI:\n" + help);
        assertThrows(IllegalArgumentException.class, () -> Output.Format.parse("xml"));
    }

    @Test
    void groupsAsTablesAbbreviatedAndInFullAsJson() {
        List<dev.weft.proto.agent.v1.Group> groups = List.of(dev.weft.proto.agent.v1.Group.newBuilder()
                .setName("766a9e51-f132-5c2f-b862-9ac68e75d77d")
                .addMembers(dev.weft.proto.agent.v1.GroupMember.newBuilder().setPod("default/nginx-1").addIps("10.10.1.2"))
                .addMembers(dev.weft.proto.agent.v1.GroupMember.newBuilder().setPod("default/nginx-2").addIps("10.10.2.2"))
                .build());
        assertEquals("NAME                                 POD-IPS\n"
                + "766a9e51-f132-5c2f-b862-9ac68e75d77d [10.10.1.2 10.10.2.2]\n", Groups.render(groups, false, Output.Format.TABLE));
        assertEquals("NAME                                 PODS\n"
                + "766a9e51-f132-5c2f-b862-9ac68e75d77d [default/nginx-1 default/nginx-2]\n",
                Groups.render(groups, true, Output.Format.TABLE));
        assertTrue(Groups.render(groups, false, Output.Format.JSON).contains("\"pod\" : \"default/nginx-2\""));
        assertEquals("[a b c] +2 more", Groups.abbreviate(List.of("a", "b", "c", "d", "e")));
        assertEquals("<none>", Groups.abbreviate(List.of()));
    }

    @Test
    void anUnreachableAgentIsAClearErrorAndExitCode() {
        StringWriter err = new StringWriter();
        java.io.PrintStream saved = System.err;
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(buf));
        try {
            int code = new CommandLine(new Weftctl()).execute("--server", "127.0.0.1:1", "--timeout", "3", "get", "agentinfo");
            assertEquals(1, code);
        } finally {
            System.setErr(saved);
        }
        assertTrue(buf.toString().contains("agent at 127.0.0.1:1: UNAVAILABLE"), buf.toString());
    }
}
