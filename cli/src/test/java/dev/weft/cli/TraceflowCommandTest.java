package dev.weft.cli;

import dev.weft.proto.agent.v1.TraceNode;
import dev.weft.proto.agent.v1.TraceObservation;
import dev.weft.proto.agent.v1.TraceflowRequest;
import dev.weft.proto.agent.v1.TraceflowResponse;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The traceflow flags become the request; bad ones are refused with the reason; the result renders per node. */
class TraceflowCommandTest {

    private static TraceflowRequest parse(String src, String dst, String flow) {
        TraceflowCommand c = new TraceflowCommand();
        c.source = src;
        c.destination = dst;
        c.flow = flow;
        c.timeout = 5;
        return c.request();
    }

    @Test
    void flagsBecomeTheRequest() {
        TraceflowRequest r = parse("tf/busybox", "tf/nginx", "tcp,tcp_dst=80");
        assertEquals("tf", r.getSource().getNamespace());
        assertEquals("nginx", r.getDestinationPod().getName());
        assertEquals("tcp", r.getProtocol());
        assertEquals(80, r.getDestinationPort());
        r = parse("busybox", "10.96.0.10:53", "udp");
        assertEquals("default", r.getSource().getNamespace());
        assertEquals("10.96.0.10", r.getDestinationIp());
        assertEquals(53, r.getDestinationPort());
        assertEquals("udp", r.getProtocol());
        assertEquals("icmp", parse("a", "b", "icmp").getProtocol());
        assertThrows(IllegalArgumentException.class, () -> parse("a/b/c", "b", "tcp"));
        assertThrows(IllegalArgumentException.class, () -> parse("a", "b", "tcp,nw_ttl=3"));
        assertThrows(IllegalArgumentException.class, () -> parse("a", "b", "tcp,udp"));
        assertThrows(IllegalArgumentException.class, () -> parse("a", "b", "tcp_dst=70000"));
    }

    @Test
    void resultsRenderPerNode() {
        TraceflowResponse r = TraceflowResponse.newBuilder().setSource("tf/busybox").setDestination("tf/nginx")
                .setPacket("tcp 10.10.0.2:1 -> 10.10.1.2:80").setTag(3).setResult("Dropped")
                .addNodes(TraceNode.newBuilder().setNode("node2").addObservations(TraceObservation.newBuilder()
                        .setComponent("IngressDefaultRule").setAction("Dropped").setNetworkPolicy("tf/nginx-allow")
                        .setRule("default deny")))
                .build();
        String table = TraceflowCommand.render(r, Output.Format.TABLE);
        assertTrue(table.contains("result: Dropped"), table);
        assertTrue(table.contains("node2 IngressDefaultRule Dropped tf/nginx-allow default deny"), table);
        String json = TraceflowCommand.render(r, Output.Format.JSON);
        assertTrue(json.contains("\"networkPolicy\" : \"tf/nginx-allow\""), json);
    }
}
